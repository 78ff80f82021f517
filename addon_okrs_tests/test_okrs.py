"""addon_okr_metrics in the whole graph: equal to an independent DuckDB computation of the
contract over the published addons/agg/v1 days, and a range run giving each day its single-day
rows and its own metadata."""

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs.dataset.days import days_since_epoch
from addon_okrs.dataset.schema import DAY
from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDON_OKR_METRICS
from addon_okrs.tools.cli import day_summary
from addon_okrs.tools.generate import generate_days
from addon_okrs.tools.in_process import materialize_days
from harness.reference import reference_okr_metrics
from harness.settings import local_settings

DAYS = ["20170701", "20170702", "20170703"]
OKR_NUMBERS = [
    "self_installers",
    "self_installer_share",
    "addons_per_profile",
    "new_profile_self_installers",
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("okr-sources")
    generate_days(root.as_uri(), DAYS[0], len(DAYS), clients=6000, seed=31, samples=3)
    return root


@pytest.fixture(scope="module")
def range_run(
    spark: SparkSession, sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dg.ExecuteInProcessResult]:
    out = tmp_path_factory.mktemp("okr-range")
    result = materialize_days(local_settings(sources, out), DAYS[0], DAYS[-1])
    assert result.success
    return out, result


def okr_rows(out: Path, day: str) -> list[tuple[Any, ...]]:
    rows = pq.read_table(out / ADDON_OKR_METRICS.day_path(day)).to_pylist()
    return sorted(tuple(r.values()) for r in rows)


def test_okr_metrics_equal_the_independent_duckdb_computation_value_for_value(
    range_run: tuple[Path, dg.ExecuteInProcessResult],
) -> None:
    out, _ = range_run
    reference = reference_okr_metrics(out, DAYS)

    for day in DAYS:
        written = pq.read_table(out / ADDON_OKR_METRICS.day_path(day))
        expected = reference.filter(
            reference[DAY].to_numpy(zero_copy_only=False) == day
        ).drop_columns([DAY])
        assert [(f.name, f.type) for f in written.schema] == [
            (f.name, f.type) for f in expected.schema
        ]
        # Doubles compared with ==: the same bits, not merely close.
        assert sorted(tuple(r.values()) for r in written.to_pylist()) == sorted(
            tuple(r.values()) for r in expected.to_pylist()
        )
        assert_covers_the_okr_edge_cases(out, day, written.to_pylist())


def assert_covers_the_okr_edge_cases(out: Path, day: str, okrs: list[dict[str, Any]]) -> None:
    """The generated day must hold what the OKR rules are about, or agreeing proves little."""
    aggregates = pq.read_table(out / ADDON_AGGREGATES.day_path(day)).to_pylist()
    today = days_since_epoch(day)
    ages = {
        today - r["profile_creation_date"]
        for r in aggregates
        if r["profile_creation_date"] is not None and not r["foreign_install"]
    }
    assert {0, 13, 14} <= ages  # the window's edges, and one day past it
    assert min(ages) < 0  # a profile "created" after the day
    assert any(r["profile_creation_date"] is None for r in aggregates)
    two_channels = {}
    for r in aggregates:
        two_channels.setdefault(r["client_id"], set()).add(r["normalized_channel"])
    assert any(len(c) > 1 for c in two_channels.values())
    by_channel = {r["normalized_channel"]: r for r in okrs}
    assert by_channel["aurora"]["n_clients"] == 0  # clients absent from main_summary
    assert by_channel["aurora"]["self_installer_share"] is None
    assert by_channel["all"]["new_profile_self_installers"] > 0


def test_a_range_run_gives_each_day_its_single_day_rows_and_its_own_metadata(
    spark: SparkSession,
    sources: Path,
    range_run: tuple[Path, dg.ExecuteInProcessResult],
    tmp_path: Path,
) -> None:
    out, result = range_run

    metadata = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path[-1] == ADDON_OKR_METRICS.name:
            metadata[materialization.partition] = {
                k: v.value for k, v in materialization.metadata.items()
            }
    assert sorted(metadata) == DAYS
    for day in DAYS:
        assert materialize_days(local_settings(sources, tmp_path), day).success
        assert okr_rows(out, day) == okr_rows(tmp_path, day)
        everything = next(
            r
            for r in pq.read_table(out / ADDON_OKR_METRICS.day_path(day)).to_pylist()
            if r["normalized_channel"] == "all"
        )
        assert {k: metadata[day][k] for k in OKR_NUMBERS} == {k: everything[k] for k in OKR_NUMBERS}
        assert metadata[day]["dagster/row_count"] == len(okr_rows(out, day))
        table = metadata[day]["okrs_by_channel"]
        assert [r.data["normalized_channel"] for r in table.records][-1] == "all"
        assert len(table.records) == len(okr_rows(out, day))
    # Three days, three different numbers: the metadata is per day, not the range's.
    assert len({metadata[d]["self_installers"] for d in DAYS}) == 3


def test_the_demo_prints_the_day_as_the_tables_the_run_wrote_hold_it(
    sources: Path, range_run: tuple[Path, dg.ExecuteInProcessResult]
) -> None:
    out, _ = range_run

    printed = day_summary(local_settings(sources, out).warehouse(), DAYS[-1])

    day = DAYS[-1]
    assert (
        printed
        == f"""
output: file://{out}/addons/agg/v1/submission_date_s3={day}
  5,442 rows in 1 file(s)

  channel     clients w/ add-ons  self-installers  n_clients  custom theme
  release                  3,619            3,371      4,762         1,409
  beta                       498              444        668           209
  Other                      220              202        292            76
  nightly                    160              147        204            56
  esr                        113              105        170             0
  aurora                      14               11          0             0

OKRs: file://{out}/addons/okr/v1/submission_date_s3={day}

  channel     n_clients  w/ add-ons  self-inst.   share  self-inst. add-ons  per profile  new profiles
  release         4,762       3,619       3,371  0.7079               5,648       1.1861            68
  beta              668         498         444  0.6647                 767       1.1482             8
  Other             292         220         202  0.6918                 320       1.0959             4
  nightly           204         160         147  0.7206                 225       1.1029             3
  esr               170         113         105  0.6176                 172       1.0118             3
  aurora              0          14          11       -                  11            -             0
  all             6,096       4,624       4,280  0.7021               7,143       1.1718            86

report: file://{out}/reports/addon_okrs/{day}/index.html"""  # noqa: E501
    )
    # The first table's add-on columns are the independent computation's, channel by channel.
    reference = {
        r["normalized_channel"]: (r["n_clients_with_addons"], r["self_installers"])
        for r in reference_okr_metrics(out, [day]).to_pylist()
    }
    first_table = printed.split("\n\nOKRs:")[0].splitlines()[5:]
    shown = {
        cells[0]: (int(cells[1].replace(",", "")), int(cells[2].replace(",", "")))
        for cells in (line.split() for line in first_table)
    }
    assert shown == {c: v for c, v in reference.items() if c != "all"}
