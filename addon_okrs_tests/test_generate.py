"""The synthetic source days: production layout, mixed schemas, determinism."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from addon_okrs.dataset.days import days_since_epoch
from addon_okrs.dataset.schema import NEWER_ADDON_FIELDS
from addon_okrs.tools.generate import _array, client_ids, generate_day, generate_days


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    generate_days(root.as_uri(), "20170501", 2, clients=2000, seed=3, samples=8)
    return root


def test_days_are_written_in_the_production_layout_with_one_marker_per_sample(root: Path) -> None:
    for table in ("addons/v2", "main_summary/v4"):
        for day in ("20170501", "20170502"):
            folder = root / table / f"submission_date_s3={day}"
            samples = sorted(p.name for p in folder.iterdir())
            assert samples == [f"sample_id={s}" for s in sorted(range(8), key=str)]
            assert len(list(folder.glob("*/_SUCCESS"))) == 8
            assert len(list(folder.glob("*/*.parquet"))) == 8


def test_older_files_lack_the_newest_addon_fields_flat_and_nested(root: Path) -> None:
    day = "submission_date_s3=20170501"
    old_addons = pq.read_schema(next((root / "addons/v2" / day / "sample_id=0").glob("*.parquet")))
    new_addons = pq.read_schema(next((root / "addons/v2" / day / "sample_id=1").glob("*.parquet")))
    old_ms = pq.read_schema(
        next((root / "main_summary/v4" / day / "sample_id=4").glob("*.parquet"))
    )
    new_ms = pq.read_schema(
        next((root / "main_summary/v4" / day / "sample_id=5").glob("*.parquet"))
    )

    for field in NEWER_ADDON_FIELDS:
        assert field not in old_addons.names
        assert field in new_addons.names
        assert old_ms.field("active_theme").type.get_field_index(field) == -1
        assert new_ms.field("active_theme").type.get_field_index(field) >= 0
        assert old_ms.field("active_addons").type.value_type.get_field_index(field) == -1
        assert new_ms.field("active_addons").type.value_type.get_field_index(field) >= 0


def test_same_seed_and_day_give_the_same_rows(root: Path, tmp_path: Path) -> None:
    generate_days(tmp_path.as_uri(), "20170502", 1, clients=2000, seed=3, samples=8)

    for table in ("addons/v2", "main_summary/v4"):
        folder = f"{table}/submission_date_s3=20170502/sample_id=3"
        assert pq.read_table(tmp_path / folder).equals(pq.read_table(root / folder))


def test_clients_recur_across_days_but_pings_differ(root: Path) -> None:
    def pings(day: str) -> pa.Table:
        return pq.read_table(root / "main_summary/v4" / f"submission_date_s3={day}")

    population = set(client_ids(3, 2000).to_pylist())
    first = set(pings("20170501")["client_id"].drop_null().to_pylist())
    second = set(pings("20170502")["client_id"].drop_null().to_pylist())
    # Every client pings every day; only one whose sole ping lost its id is missing from a day.
    assert first <= population and second <= population
    assert len(first & second) > 1950
    assert pings("20170501")["profile_creation_date"] != pings("20170502")["profile_creation_date"]


def test_large_string_columns_are_built_as_flat_arrays() -> None:
    # pyarrow returns a ChunkedArray for ~1.5M+ numpy strings; struct builders refuse those,
    # which broke generating a 1M-client day.
    values = np.char.add("addon-", np.arange(2_000_000).astype(str))

    array = _array(values, pa.string())

    assert isinstance(array, pa.StringArray)
    assert (len(array), array[1_999_999].as_py()) == (2_000_000, "addon-1999999")


def okr_drivers(root: Path, day: str) -> dict[str, float]:
    """Per client seen in main_summary: active add-ons, the self-installed share of the
    enabled ones, and the share of profiles 0 to 13 days old."""
    pings = pq.read_table(root / "main_summary/v4" / f"submission_date_s3={day}").to_pylist()
    first_ping = {p["client_id"]: p for p in reversed(pings) if p["client_id"] is not None}
    today = days_since_epoch(day)
    addons = [len(p["active_addons"] or []) for p in first_ping.values()]
    elements = [a for p in first_ping.values() for a in (p["active_addons"] or [])]
    known = [a for a in elements if a["foreign_install"] is not None]
    ages = [
        None if p["profile_creation_date"] is None else today - p["profile_creation_date"]
        for p in first_ping.values()
    ]
    return {
        "addons_per_client": sum(addons) / len(addons),
        "self_installed_share": sum(not a["foreign_install"] for a in known) / len(known),
        "new_profile_share": sum(0 <= a <= 13 for a in ages if a is not None) / len(ages),
    }


def test_a_drift_moves_each_okr_driver_by_its_factor(tmp_path: Path) -> None:
    flat, drifting = tmp_path / "flat", tmp_path / "drifting"
    generate_days(flat.as_uri(), "20170501", 2, clients=20_000, seed=4, samples=2)
    generate_days(
        drifting.as_uri(), "20170501", 2, clients=20_000, seed=4, samples=2, drift_percent=25
    )

    # The first day is the plain day, whatever the drift.
    for table in ("addons/v2", "main_summary/v4"):
        folder = f"{table}/submission_date_s3=20170501/sample_id=1"
        assert pq.read_table(drifting / folder).equals(pq.read_table(flat / folder))
    before, after = okr_drivers(flat, "20170502"), okr_drivers(drifting, "20170502")
    # Add-ons per client and new profiles x1.25; side-loaded share / 1.25 (0.15 -> 0.12).
    assert after["addons_per_client"] / before["addons_per_client"] == pytest.approx(1.25, abs=0.03)
    assert after["new_profile_share"] / before["new_profile_share"] == pytest.approx(1.25, abs=0.1)
    assert 1 - after["self_installed_share"] == pytest.approx(0.12, abs=0.005)
    assert 1 - before["self_installed_share"] == pytest.approx(0.15, abs=0.005)


def test_a_day_written_in_parts_holds_each_parts_clients_beside_the_others(
    root: Path, tmp_path: Path
) -> None:
    """How the benchmark writes a day too large to generate at once: part 0 is the plain day,
    part 1 adds its own seed's clients in files of its own and leaves part 0's alone."""
    day, folder = "20170501", "main_summary/v4/submission_date_s3=20170501"
    generate_day(tmp_path.as_uri(), day, 2000, seed=3, samples=8)
    first = pq.read_table(tmp_path / folder)
    generate_day(tmp_path.as_uri(), day, 500, seed=4, samples=8, part=1)

    both = pq.read_table(tmp_path / folder)
    assert first.equals(pq.read_table(root / folder))  # part 0 is the ordinary day
    assert sorted(p.name for p in (tmp_path / folder / "sample_id=3").glob("*.parquet")) == [
        "part-00000-00003.snappy.parquet",
        "part-00001-00003.snappy.parquet",
    ]
    second = pa.concat_tables(
        pq.read_table(f, columns=["client_id"])
        for f in sorted((tmp_path / folder).glob("*/part-00001-*.parquet"))
    )
    assert both.num_rows == first.num_rows + second.num_rows
    clients_first = set(first["client_id"].drop_null().to_pylist())
    clients_second = set(second["client_id"].drop_null().to_pylist())
    # Another seed, other clients: the day holds both populations, none shared.
    assert not clients_first & clients_second
    assert len(clients_second) > 450
    assert set(both["client_id"].drop_null().to_pylist()) == clients_first | clients_second
