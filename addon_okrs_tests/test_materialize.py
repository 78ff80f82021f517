"""The whole asset graph through Dagster's materialize(), on generated days."""

from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs.dataset.schema import DAY
from addon_okrs.defs.graph import built_asset_names, built_assets
from addon_okrs.storage import bucketing
from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDON_OKR_METRICS, INTERMEDIATES
from addon_okrs.tools.generate import generate_days
from addon_okrs.tools.in_process import materialize_days
from addon_okrs_tests.helpers import day_rows, file_names
from harness.reference import reference_addon_aggregates
from harness.settings import local_settings

BUILT = built_asset_names

DAYS = ["20170501", "20170502", "20170503", "20170504", "20170505"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources")
    generate_days(root.as_uri(), DAYS[0], len(DAYS), clients=3000, seed=7, samples=4)
    return root


def materialize(
    sources: Path, out: Path, first: str, last: str | None = None
) -> dg.ExecuteInProcessResult:
    return materialize_days(local_settings(sources, out), first, last)


def declared_tables(spark: SparkSession) -> set[str]:
    return {t.name for t in spark.catalog.listTables() if t.name.startswith(bucketing.PREFIX)}


def materializations(
    result: dg.ExecuteInProcessResult,
) -> dict[tuple[str, str | None], dict[str, Any]]:
    events = {}
    for event in result.get_asset_materialization_events():
        m = event.step_materialization_data.materialization
        events[(m.asset_key.path[-1], m.partition)] = {k: v.value for k, v in m.metadata.items()}
    return events


def test_one_day_materializes_every_asset_with_metadata(
    spark: SparkSession, sources: Path, tmp_path: Path
) -> None:
    declared_before = declared_tables(spark)

    result = materialize(sources, tmp_path, "20170502")

    assert result.success
    # The run dropped the catalog tables it read the bucketed intermediates through.
    assert declared_tables(spark) == declared_before
    events = materializations(result)
    assert sorted(events) == sorted((name, "20170502") for name in BUILT)
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        "grain_is_unique": True,
        "values_in_range": True,
        "channel_counts_consistent": True,
        "keys_not_null": True,
        "row_count_stable": True,
    }
    output = tmp_path / "addons/agg/v1/submission_date_s3=20170502"
    final = events[("addon_aggregates", "20170502")]
    assert final["path"] == f"file://{output}"
    assert final["dagster/row_count"] == pq.read_table(output).num_rows
    assert final["file_count"] == 1
    channel_counts = pq.read_table(
        tmp_path / "intermediate/channel_counts/submission_date_s3=20170502"
    ).to_pylist()
    assert final["n_clients_by_channel"] == {
        r["normalized_channel"]: r["n_clients"] for r in channel_counts
    }
    for spec in INTERMEDIATES:
        written = tmp_path / "intermediate" / spec.day_path("20170502")
        assert (
            events[(spec.name, "20170502")]["dagster/row_count"] == pq.read_table(written).num_rows
        )
        assert (written / bucketing.RECORD).exists() == spec.bucketed
    assert sum(spec.bucketed for spec in INTERMEDIATES) == 4
    okrs = tmp_path / ADDON_OKR_METRICS.day_path("20170502")
    assert (
        events[("addon_okr_metrics", "20170502")]["dagster/row_count"]
        == pq.read_table(okrs).num_rows
    )
    names = file_names(output)
    assert "_SUCCESS" in names
    assert len([n for n in names if n.startswith("part-") and n.endswith(".parquet")]) == 1


def test_a_three_day_range_in_one_run_equals_three_single_day_runs(
    spark: SparkSession, sources: Path, tmp_path: Path
) -> None:
    together, alone = tmp_path / "together", tmp_path / "alone"
    days = DAYS[1:4]  # a first, a middle and a last day, none the sources' first or last

    result = materialize(sources, together, days[0], days[-1])
    for day in days:
        assert materialize(sources, alone, day).success

    assert result.success
    assert sorted(materializations(result)) == sorted((name, day) for name in BUILT for day in days)
    assert result.dagster_run.tags["dagster/asset_partition_range_end"] == days[-1]
    events = materializations(result)
    for day in days:
        rows = day_rows(together / "addons/agg/v1", day)
        assert len(rows) > 2000
        assert rows == day_rows(alone / "addons/agg/v1", day)
        # Each day's materialization records that day's numbers, not the range's.
        for name in ("addon_aggregates", "user_types"):
            metadata = events[(name, day)]
            table = ADDON_AGGREGATES if name == "addon_aggregates" else None
            folder = (
                together / table.day_path(day)
                if table
                else together / "intermediate" / name / f"{DAY}={day}"
            )
            assert metadata["dagster/row_count"] == pq.read_table(folder).num_rows
            assert metadata["path"] == f"file://{folder}"


def test_rerunning_a_day_replaces_it_and_leaves_other_days_untouched(
    spark: SparkSession, sources: Path, tmp_path: Path
) -> None:
    materialize(sources, tmp_path, DAYS[0], DAYS[1])
    table = tmp_path / "addons/agg/v1"
    first_rows = day_rows(table, DAYS[0])
    other_day = {p.name: p.read_bytes() for p in (table / f"{DAY}={DAYS[1]}").iterdir()}

    assert materialize(sources, tmp_path, DAYS[0]).success

    rerun_rows = day_rows(table, DAYS[0])
    assert rerun_rows == first_rows
    grain = Counter(row[:3] for row in rerun_rows)
    assert grain.most_common(1)[0][1] == 1
    assert {p.name: p.read_bytes() for p in (table / f"{DAY}={DAYS[1]}").iterdir()} == other_day
    assert file_names(table) == ["_leases", f"{DAY}={DAYS[0]}", f"{DAY}={DAYS[1]}"]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_spark_assets_equal_the_independent_duckdb_reference(
    spark: SparkSession, tmp_path: Path, seed: int
) -> None:
    sources = tmp_path / "sources"
    generate_days(sources.as_uri(), "20170601", 2, clients=2500, seed=seed, samples=5)
    out = tmp_path / "out"

    assert materialize(sources, out, "20170601", "20170602").success

    reference = reference_addon_aggregates(sources, ["20170601", "20170602"])
    for day in ["20170601", "20170602"]:
        written = pq.read_table(out / "addons/agg/v1" / f"{DAY}={day}")
        expected = reference.filter(
            reference[DAY].to_numpy(zero_copy_only=False) == day
        ).drop_columns([DAY])
        assert [(f.name, f.type) for f in written.schema] == [
            (f.name, f.type) for f in expected.schema
        ]
        assert Counter(map(tuple, (r.values() for r in written.to_pylist()))) == Counter(
            map(tuple, (r.values() for r in expected.to_pylist()))
        )
        assert_covers_the_edge_cases(written.to_pylist())


def test_every_asset_retries_twice_with_back_off() -> None:
    policy = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)

    assert {a.key.path[-1]: a.op.retry_policy for a in built_assets} == {
        name: policy for name in BUILT
    }


def test_a_missing_source_day_fails_once_without_retries(
    spark: SparkSession, sources: Path, tmp_path: Path
) -> None:
    result = materialize_days(local_settings(sources, tmp_path), "20170509")

    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    retries = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert retries == []
    # One step reads each source; everything downstream of them is skipped, not failed.
    assert sorted(e.step_key for e in failures) == ["count_by_client_day", "ms_has_theme"]
    addons_failure = next(e for e in failures if e.step_key == "count_by_client_day")
    assert addons_failure.step_failure_data.error.message.startswith(
        "dagster._core.definitions.events.Failure: table addons: no folder for day(s) 20170509 "
        f"(looked for file://{sources}/addons/v2/submission_date_s3=20170509)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def assert_covers_the_edge_cases(rows: list[dict[str, Any]]) -> None:
    """The generated day must exercise every rule, or agreeing proves little."""

    def some(predicate: Any) -> bool:
        return any(predicate(r) for r in rows)

    assert some(lambda r: r["normalized_channel"] == "Other")
    assert some(lambda r: r["normalized_channel"] == "aurora" and r["n_clients"] == 0)
    assert some(
        lambda r: (
            r["normalized_channel"] == "esr"
            and r["n_custom_theme_clients"] == 0
            and r["n_clients"] > 0
        )
    )
    assert {r["user_type"] for r in rows} == {-1, 0, 1}
    assert {r["has_custom_theme"] for r in rows} == {-1, 0, 1, None}
    assert some(lambda r: r["profile_creation_date"] is None)
    assert some(lambda r: r["min_install_day"] is None and r["profile_creation_date"] is not None)
    assert some(lambda r: r["count"] > 1)
