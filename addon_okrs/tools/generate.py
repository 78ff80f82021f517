"""Synthetic telemetry days shaped like addons v2 and main_summary v4, in the production layout
(`submission_date_s3=D/sample_id=S/part-*.parquet` + `_SUCCESS`), built with vectorised numpy
so a million clients take seconds, not minutes.

Besides ordinary clients, each day holds the cases the dataset's rules exist for: null client ids,
null channels, null install types, system and disabled add-ons (and null flags), pings without
add-ons, default / custom / null / changing themes, duplicate rows, clients on two channels or
with two profile creation dates, new profiles (0 to 13 days old, exactly 14, and created
"in the future" by a clock ahead), pings without an add-on list, a channel where nobody has a
custom theme (esr), and clients
that only appear in addons (some on a channel main_summary never sees: aurora). A quarter of
the sample folders carry the older schema, without the two newest add-on fields.
"""

import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from addon_okrs.dataset.days import day_range, days_since_epoch
from addon_okrs.dataset.schema import ADDON_FIELDS, DEFAULT_THEME_ID, NEWER_ADDON_FIELDS
from addon_okrs.storage.catalog import ADDONS, MAIN_SUMMARY, TableSpec
from addon_okrs.storage.locations import MARKER, Location, S3Options, normalise_root

CHANNELS = np.array(["release", "beta", "nightly", "esr", None], dtype=object)
CHANNEL_SHARE = [0.78, 0.10, 0.04, 0.03, 0.05]
ESR = 3
ADDON_ONLY_CHANNELS = np.array(["release", "aurora"], dtype=object)
OPERATING_SYSTEMS = np.array(["Windows_NT", "Darwin", "Linux"], dtype=object)
N_ADDON_IDS = 400
N_SYSTEM_ADDONS = 8
ADDONS_PER_CLIENT = 1.6  # mean of a Poisson draw
FOREIGN_SHARE = 0.15  # add-ons side-loaded rather than self-installed
NEW_PROFILE_SHARE = 0.02  # clients whose profile is 0 to 13 days old
EDGE_PROFILE_SHARE = 0.002  # clients whose profile is exactly 14 days old; and in the future


@dataclass(frozen=True)
class GeneratedDay:
    day: str
    pings: int
    addon_rows: int
    files: int
    seconds: float


def uuid_strings(rng: np.random.Generator, n: int) -> pa.Array:
    """n random UUID-formatted strings, without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((n, 32), dtype=np.uint8)
    chars[:, 0::2] = hexdigits[raw >> 4]
    chars[:, 1::2] = hexdigits[raw & 15]
    dashed = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, target in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        dashed[:, target : target + stop - start] = chars[:, start:stop]
    return _array(dashed.view("S36").ravel()).cast(pa.string())


def client_ids(seed: int, n: int) -> pa.Array:
    """The client population: the same ids every day for one seed, so days share clients."""
    return uuid_strings(np.random.default_rng([seed, 0xC1]), n)


def _array(
    values: np.ndarray, type_: pa.DataType | None = None, mask: np.ndarray | None = None
) -> pa.Array:
    """A flat Arrow array: pyarrow chunks large numpy string arrays (from ~1.5M values), and
    struct and list builders only take flat ones."""
    array = pa.array(values, type=type_, mask=mask)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _masked(values: np.ndarray, null: np.ndarray, type_: pa.DataType) -> pa.Array:
    return _array(values, type_, mask=null)


def _choose(rng: np.random.Generator, n: int, shares: list[float]) -> np.ndarray:
    return rng.choice(len(shares), size=n, p=shares)


def _addon_elements(
    rng: np.random.Generator,
    n: int,
    profile_days: np.ndarray,
    today: int,
    foreign_share: float = FOREIGN_SHARE,
) -> pa.StructArray:
    """n add-on structs (the add-on fields, newer schema), one per client x add-on slot."""
    is_system = rng.random(n) < 0.06
    popular = rng.zipf(1.3, size=n) % N_ADDON_IDS
    system_ids = np.char.add("system-", (rng.integers(0, N_SYSTEM_ADDONS, n)).astype(str))
    user_ids = np.char.add("addon-", popular.astype(str))
    addon_id = np.char.add(np.where(is_system, system_ids, user_ids), "@example.org")
    install = np.minimum(profile_days + rng.integers(0, 900, n), today).astype(np.int32)
    children = {
        "addon_id": _array(addon_id, pa.string()),
        "blocklisted": _array(rng.random(n) < 0.001),
        "name": _array(np.char.add("Add-on ", popular.astype(str)), pa.string()),
        "user_disabled": _masked(rng.random(n) < 0.03, rng.random(n) < 0.005, pa.bool_()),
        "app_disabled": _array(rng.random(n) < 0.01),
        "version": _array(np.char.add("1.", (popular % 9).astype(str)), pa.string()),
        "scope": _array(np.where(is_system, 8, 1).astype(np.int32)),
        "type": _array(np.full(n, "extension", dtype=object), pa.string()),
        "foreign_install": _masked(rng.random(n) < foreign_share, rng.random(n) < 0.02, pa.bool_()),
        "has_binary_components": _array(rng.random(n) < 0.02),
        "install_day": _masked(install, rng.random(n) < 0.01, pa.int32()),
        "update_day": _array(np.minimum(install + rng.integers(0, 60, n), today).astype(np.int32)),
        "signed_state": _array(np.where(is_system, 3, 2).astype(np.int32)),
        "is_system": _array(is_system),
        "is_web_extension": _array(rng.random(n) < 0.4),
        "multiprocess_compatible": _array(rng.random(n) < 0.7),
    }
    assert list(children) == [name for name, _ in ADDON_FIELDS]
    return pa.StructArray.from_arrays(list(children.values()), names=list(children))


def _themes(rng: np.random.Generator, n: int) -> pa.StructArray:
    """Theme structs: slot 0 is the default theme, the others custom themes."""
    ids = np.concatenate([[DEFAULT_THEME_ID], np.char.add("theme-", np.arange(1, n).astype(str))])
    base = _addon_elements(rng, n, np.full(n, 15000), 17000)
    names = [f.name for f in base.type]
    children = [
        _array(ids, pa.string()) if name == "addon_id" else base.field(name) for name in names
    ]
    return pa.StructArray.from_arrays(children, names=names)


def _older(array: pa.StructArray) -> pa.StructArray:
    """The same structs in the older schema, without the newest fields."""
    names = [f.name for f in array.type if f.name not in NEWER_ADDON_FIELDS]
    return pa.StructArray.from_arrays(
        [array.field(n) for n in names], names=names, mask=array.is_null()
    )


def generate_day(
    root: str,
    day: str,
    clients: int,
    seed: int = 0,
    samples: int = 100,
    s3: S3Options | None = None,
    trend: float = 1.0,
    part: int = 0,
) -> GeneratedDay:
    """Write one day of both source tables under `root` (any file:// or s3:// URI).

    `part` 0 replaces the day; part k > 0 adds its clients to the day as files of their own
    (`part-0000k-…`), so that a day too large to hold in memory (about 1.5 GB per million
    clients) is written in parts, each with its own seed.
    `trend` multiplies the three drivers of the OKRs: add-ons per client, the share of
    self-installed add-ons (the side-loaded share is divided by it) and the share of new
    profiles. 1.0 is the plain day; generate_days sets it from a drift per day."""
    started = time.monotonic()
    rng = np.random.default_rng([seed, int(day)])
    today = days_since_epoch(day)
    n = clients

    # --- clients -----------------------------------------------------------------------
    ids = client_ids(seed, n)
    channel = _choose(rng, n, CHANNEL_SHARE)
    profile = rng.integers(12000, today - 1, n)
    # New profiles come from a stream of their own, so that the other draws of a day are the
    # same whatever the trend.
    young = np.random.default_rng([seed, int(day), 0x0E])
    is_new = young.random(n) < NEW_PROFILE_SHARE * trend
    profile = np.where(is_new, today - young.integers(0, 14, n), profile)
    edge = young.random(n)
    profile = np.where(edge < EDGE_PROFILE_SHARE, today - 14, profile)  # one day too old
    future = (edge >= EDGE_PROFILE_SHARE) & (edge < 2 * EDGE_PROFILE_SHARE)
    profile = np.where(future, today + young.integers(1, 4, n), profile)  # a clock ahead
    profile_null = rng.random(n) < 0.03
    pings_per_client = 1 + rng.poisson(0.5, n)
    multi = pings_per_client > 1
    switches_channel = multi & (rng.random(n) < 0.05)
    changes_profile = multi & (rng.random(n) < 0.03)
    changes_theme = multi & (rng.random(n) < 0.05) & (channel != ESR)
    theme_slot = np.where(rng.random(n) < 0.3, 1 + rng.integers(0, 50, n), 0)
    theme_slot[channel == ESR] = 0  # esr: a channel where nobody runs a custom theme
    theme_null = (rng.random(n) < 0.05) & (channel != ESR)
    addons_per_client = rng.poisson(ADDONS_PER_CLIENT * trend, n)
    # Pings whose environment lacked the add-on list, though the addons table has the rows.
    no_addon_list = rng.random(n) < 0.01

    # --- pings (main_summary rows) ------------------------------------------------------
    ping_client = np.repeat(np.arange(n), pings_per_client)
    first_ping = np.cumsum(pings_per_client) - pings_per_client
    later = (np.arange(ping_client.size) - first_ping[ping_client]) > 0
    p = ping_client.size
    ping_channel = channel[ping_client]
    switched = later & switches_channel[ping_client]
    ping_channel = np.where(switched, np.where(ping_channel == 0, 1, 0), ping_channel)
    ping_profile = profile[ping_client] + np.where(later & changes_profile[ping_client], 2, 0)
    ping_theme = theme_slot[ping_client]
    ping_theme = np.where(
        later & changes_theme[ping_client], np.where(ping_theme == 0, 7, 0), ping_theme
    )
    no_client = rng.random(p) < 0.01

    # Each client's add-ons are the same in all its pings, as in real sessions.
    elements = _addon_elements(
        rng,
        int(addons_per_client.sum()),
        np.repeat(profile, addons_per_client),
        today,
        foreign_share=FOREIGN_SHARE / trend,
    )
    first_element = np.cumsum(addons_per_client) - addons_per_client
    ping_k = addons_per_client[ping_client]
    offsets = np.concatenate([[0], np.cumsum(ping_k)]).astype(np.int32)
    position = np.arange(offsets[-1]) - np.repeat(offsets[:-1], ping_k)
    element_of = np.repeat(first_element[ping_client], ping_k) + position
    active_addons = pa.ListArray.from_arrays(
        pa.array(offsets),
        elements.take(pa.array(element_of)),
        mask=pa.array(no_addon_list[ping_client]),
    )
    themes = _themes(rng, 64).take(pa.array(ping_theme, mask=theme_null[ping_client]))

    ping_ids = ids.take(pa.array(ping_client, mask=no_client))
    ping_sample = np.where(no_client, rng.integers(0, samples, p), ping_client % samples)
    main_summary = pa.table(
        {
            "client_id": ping_ids,
            "normalized_channel": pa.array(CHANNELS[ping_channel], type=pa.string()),
            "profile_creation_date": pa.array(
                ping_profile, mask=profile_null[ping_client], type=pa.int64()
            ),
            "os": pa.array(OPERATING_SYSTEMS[ping_client % 3], type=pa.string()),
            "active_addons": active_addons,
            "active_theme": themes,
        }
    )

    # --- addons rows: one per ping x add-on, one all-null row for a ping without add-ons ---
    rows_per_ping = np.maximum(ping_k, 1)
    row_ping = np.repeat(np.arange(p), rows_per_ping)
    row_element = np.full(row_ping.size, -1)
    row_element[np.repeat(ping_k > 0, rows_per_ping)] = element_of
    document_ids = uuid_strings(rng, p)
    addon_fields = elements.take(pa.array(row_element, mask=row_element < 0)).flatten()

    # Clients seen only in addons (absent from main_summary), some on a channel of their own.
    extra = max(1, n // 200)
    extra_ids = uuid_strings(rng, extra)
    extra_elements = _addon_elements(rng, extra, np.full(extra, today - 100), today)

    def addons_table(columns: dict[str, pa.Array], fields: list[pa.Array]) -> pa.Table:
        names = [name for name, _ in ADDON_FIELDS]
        return pa.table({**columns, **dict(zip(names, fields, strict=True))})

    addons = pa.concat_tables(
        [
            addons_table(
                {
                    "document_id": document_ids.take(pa.array(row_ping)),
                    "client_id": ping_ids.take(pa.array(row_ping)),
                    "subsession_start_date": pa.array(
                        np.full(
                            row_ping.size,
                            f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00.0+00:00",
                            dtype=object,
                        ),
                        type=pa.string(),
                    ),
                    "normalized_channel": main_summary["normalized_channel"]
                    .take(pa.array(row_ping))
                    .combine_chunks(),
                },
                list(addon_fields),
            ),
            addons_table(
                {
                    "document_id": uuid_strings(rng, extra),
                    "client_id": extra_ids,
                    "subsession_start_date": pa.nulls(extra, pa.string()),
                    "normalized_channel": pa.array(
                        ADDON_ONLY_CHANNELS[np.arange(extra) % 2], type=pa.string()
                    ),
                },
                list(extra_elements.flatten()),
            ),
        ]
    )
    addon_sample = np.concatenate([ping_sample[row_ping], rng.integers(0, samples, extra)])
    # Upstream occasionally delivers a row twice.
    duplicated = np.flatnonzero(rng.random(addons.num_rows) < 0.005)
    addons = pa.concat_tables([addons, addons.take(pa.array(duplicated))])
    addon_sample = np.concatenate([addon_sample, addon_sample[duplicated]])

    base = Location.from_uri(normalise_root(root, "root"), s3)
    files = _write_samples(base, ADDONS, day, addons, addon_sample, samples, part)
    files += _write_samples(base, MAIN_SUMMARY, day, main_summary, ping_sample, samples, part)
    return GeneratedDay(day, p, addons.num_rows, files, time.monotonic() - started)


def _older_table(table: pa.Table) -> pa.Table:
    """The table as files written before the newest add-on fields existed."""
    columns = {}
    for name in table.column_names:
        if name in NEWER_ADDON_FIELDS:
            continue
        column = table[name].combine_chunks()
        if isinstance(column, pa.StructArray):
            column = _older(column)
        elif isinstance(column, pa.ListArray):
            column = pa.ListArray.from_arrays(
                column.offsets, _older(column.values), mask=column.is_null()
            )
        columns[name] = column
    return pa.table(columns)


def _write_samples(
    root: Location,
    spec: TableSpec,
    day: str,
    table: pa.Table,
    sample: np.ndarray,
    samples: int,
    part: int = 0,
) -> int:
    base = root.join(spec.day_path(day))
    if part == 0:
        base.delete()
    order = np.argsort(sample, kind="stable")
    table = table.take(pa.array(order))
    bounds = np.searchsorted(sample[order], np.arange(samples + 1))
    for s in range(samples):
        rows = table.slice(bounds[s], bounds[s + 1] - bounds[s])
        if s % 4 == 0:
            rows = _older_table(rows)
        folder = base.join(f"sample_id={s}")
        folder.fs.create_dir(folder.path, recursive=True)
        pq.write_table(
            rows, f"{folder.path}/part-{part:05d}-{s:05d}.snappy.parquet", filesystem=folder.fs
        )
        folder.touch(MARKER)
    return samples


def generate_days(
    root: str,
    first_day: str,
    days: int,
    clients: int,
    seed: int = 0,
    samples: int = 100,
    s3: S3Options | None = None,
    drift_percent: float = 0.0,
) -> list[GeneratedDay]:
    """`days` consecutive days from `first_day`; with `drift_percent`, the OKR drivers of
    each day are that many percent above the day before's (generate_day's `trend`)."""
    keys = day_range(first_day, days)
    growth = 1 + drift_percent / 100
    return [
        generate_day(root, key, clients, seed=seed, samples=samples, s3=s3, trend=growth**i)
        for i, key in enumerate(keys)
    ]
