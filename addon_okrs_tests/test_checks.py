"""Each asset check, fed a published day that breaks its rule, fails with the right count."""

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs import checks
from addon_okrs.code_location import all_assets, build_resources
from harness.settings import local_settings

DAY = "20170501"
SCHEMA = pa.schema(
    [
        ("normalized_channel", pa.string()),
        ("client_id", pa.string()),
        ("foreign_install", pa.bool_()),
        ("count", pa.int64()),
        ("user_type", pa.int64()),
        ("profile_creation_date", pa.int64()),
        ("min_install_day", pa.int32()),
        ("has_custom_theme", pa.int64()),
        ("n_custom_theme_clients", pa.int32()),
        ("n_clients", pa.int32()),
    ]
)


def row(client: str | None = "c1", **fields: Any) -> dict[str, Any]:
    base = {
        "normalized_channel": "release",
        "client_id": client,
        "foreign_install": False,
        "count": 1,
        "user_type": -1,
        "profile_creation_date": 16000,
        "min_install_day": 16500,
        "has_custom_theme": -1,
        "n_custom_theme_clients": 1,
        "n_clients": 3,
    }
    return {**base, **fields}


def publish(root: Path, day: str, rows: list[dict[str, Any]]) -> None:
    folder = root / "addons/agg/v1" / f"submission_date_s3={day}"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, SCHEMA), folder / "part-00000.parquet")
    (folder / "_SUCCESS").touch()


def run_check(
    root: Path, check: dg.AssetChecksDefinition, run_config: dict[str, Any] | None = None
) -> dg.AssetCheckEvaluation:
    resources = build_resources(local_settings(root, root))
    # A job of checks alone has no partitions of its own; the partition comes as the run tag.
    job = dg.define_asset_job("check_only", selection=dg.AssetSelection.checks(check))
    definitions = dg.Definitions(
        assets=all_assets,
        asset_checks=checks.addon_aggregates_checks,
        jobs=[job],
        resources=resources,
    )
    result = definitions.resolve_job_def("check_only").execute_in_process(
        tags={"dagster/partition": DAY}, run_config=run_config, raise_on_error=False
    )
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def failed_rows(evaluation: dg.AssetCheckEvaluation) -> Any:
    return evaluation.metadata["failed_rows"].value


def test_grain_is_unique_counts_every_duplicated_row(spark: SparkSession, tmp_path: Path) -> None:
    publish(
        tmp_path,
        DAY,
        [row("c1"), row("c1"), row("c1"), row("c2"), row("c1", foreign_install=True, user_type=0)],
    )

    evaluation = run_check(tmp_path, checks.grain_is_unique)

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert failed_rows(evaluation) == 3
    assert len(evaluation.metadata["sample"].value) == 3


def test_values_in_range_flags_bad_user_type_theme_and_count(
    spark: SparkSession, tmp_path: Path
) -> None:
    rows = [
        row("c1", user_type=2),
        row("c2", has_custom_theme=-2),
        row("c3", count=0),
        row("c4", has_custom_theme=None),  # no ping on the channel: allowed
        row("c5", has_custom_theme=0, user_type=0),
    ]
    publish(tmp_path, DAY, rows)

    evaluation = run_check(tmp_path, checks.values_in_range)

    assert not evaluation.passed
    assert failed_rows(evaluation) == 3
    assert sorted(r["client_id"] for r in evaluation.metadata["sample"].value) == ["c1", "c2", "c3"]


def test_channel_counts_consistent_flags_too_many_custom_and_varying_counts(
    spark: SparkSession, tmp_path: Path
) -> None:
    rows = [
        row("c1", normalized_channel="beta", n_custom_theme_clients=4, n_clients=3),
        row("c2", normalized_channel="beta", n_custom_theme_clients=4, n_clients=3),
        row("c3", normalized_channel="nightly", n_clients=5),
        row("c4", normalized_channel="nightly", n_clients=6),
        row("c5", normalized_channel="release"),
        row("c6", normalized_channel="release"),
    ]
    publish(tmp_path, DAY, rows)

    evaluation = run_check(tmp_path, checks.channel_counts_consistent)

    assert not evaluation.passed
    assert failed_rows(evaluation) == 4


def test_keys_not_null_counts_rows_with_a_null_key(spark: SparkSession, tmp_path: Path) -> None:
    rows = [
        row(None),
        row("c2", normalized_channel=None),
        row("c3", foreign_install=None),
        row("c4"),
    ]
    publish(tmp_path, DAY, rows)

    evaluation = run_check(tmp_path, checks.keys_not_null)

    assert not evaluation.passed
    assert failed_rows(evaluation) == 3


def test_a_good_day_passes_every_blocking_check(spark: SparkSession, tmp_path: Path) -> None:
    publish(tmp_path, DAY, [row("c1"), row("c1", foreign_install=True, user_type=0), row("c2")])

    for check in checks.addon_aggregates_checks[:4]:
        evaluation = run_check(tmp_path, check)
        assert evaluation.passed, check
        assert failed_rows(evaluation) == 0


@pytest.mark.parametrize(("max_change", "passed"), [(0.30, False), (0.50, True)])
def test_row_count_stable_warns_when_the_day_moved_beyond_the_share(
    spark: SparkSession, tmp_path: Path, max_change: float, passed: bool
) -> None:
    publish(tmp_path, "20170428", [row(f"c{i}") for i in range(50)])
    publish(tmp_path, "20170430", [row(f"c{i}") for i in range(10)])  # the previous day available
    publish(tmp_path, DAY, [row(f"c{i}") for i in range(14)])  # +40 %
    config = {"ops": {"addon_aggregates_row_count_stable": {"config": {"max_change": max_change}}}}

    evaluation = run_check(tmp_path, checks.row_count_stable, run_config=config)

    assert evaluation.passed is passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["failed_days"].value == (0 if passed else 1)
    if not passed:
        assert evaluation.metadata["moved"].value == {
            DAY: {"rows": 14, "previous_day": "20170430", "previous_rows": 10, "change": 0.4}
        }
