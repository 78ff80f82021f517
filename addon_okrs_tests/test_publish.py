"""Write, audit, publish: a day that breaks a blocking rule is held back with its previous
output intact, the other days of the run are published, and every check has one result per
day, in single-day runs, range runs in this process and range runs from the CLI."""

import subprocess
from collections import Counter
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from addon_okrs.dataset import transforms
from addon_okrs.dataset.rules import BLOCKING_RULES, ROW_COUNT_STABLE
from addon_okrs.dataset.schema import DAY
from addon_okrs.storage.catalog import ADDON_AGGREGATES
from addon_okrs.tools.generate import generate_days
from addon_okrs.tools.in_process import materialize_days
from addon_okrs_tests.helpers import check_results_by_day
from harness.servers import child_env, materialize_command
from harness.settings import local_settings

DAYS = ["20170611", "20170612", "20170613"]
CHECKS = sorted([*(r.name for r in BLOCKING_RULES), ROW_COUNT_STABLE])


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("publish-sources")
    generate_days(root.as_uri(), DAYS[0], len(DAYS), clients=1500, seed=21, samples=2)
    return root


def day_files(output: Path, day: str) -> dict[str, bytes]:
    folder = output / ADDON_AGGREGATES.day_path(day)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_day_breaking_a_blocking_rule_is_held_back_and_the_good_day_is_published(
    spark: SparkSession, sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = local_settings(sources, tmp_path)
    assert materialize_days(settings, DAYS[0], DAYS[1]).success
    first_published = day_files(tmp_path, DAYS[0])
    held_before = day_files(tmp_path, DAYS[1])
    original = transforms.addon_aggregates

    def duplicating_three_rows_of_the_second_day(*frames: DataFrame) -> DataFrame:
        output = original(*frames)
        return output.unionByName(output.where(F.col(DAY) == DAYS[1]).limit(3))

    monkeypatch.setattr(transforms, "addon_aggregates", duplicating_three_rows_of_the_second_day)
    instance = dg.DagsterInstance.ephemeral()

    result = materialize_days(settings, DAYS[0], DAYS[1], instance=instance)

    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "addon_aggregates"
    message = failure.step_failure_data.error.message
    assert message.startswith(
        "dagster._core.definitions.events.Failure: addon_aggregates: 1 day(s) held back, not "
        "published; their previous output is untouched.\n"
        f"- {DAYS[1]}: grain_is_unique failed, 6 row(s) break the rule: one row per (client_id, "
        'normalized_channel, foreign_install) a day. Sample: [{"normalized_channel": '
    )
    assert message.count(f'"submission_date_s3": "{DAYS[1]}"}}') == 3  # three sample rows
    assert f"Published: {DAYS[0]}. Fix the cause" in message
    # The held day: byte for byte what was there; the good day of the same run: new files.
    assert day_files(tmp_path, DAYS[1]) == held_before
    assert day_files(tmp_path, DAYS[0]) != first_published
    assert sorted(p.name for p in (tmp_path / ADDON_AGGREGATES.path).iterdir()) == [
        "_leases",
        f"{DAY}={DAYS[0]}",
        f"{DAY}={DAYS[1]}",
    ]
    materialized = [
        e.step_materialization_data.materialization.partition
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and e.step_key == "addon_aggregates"
    ]
    assert materialized == [DAYS[0]]
    # Each day has its own result for each check: the held day's grain check failed, with
    # the count and a sample of the violating rows.
    evaluations = {(e.partition, e.check_name): e for e in result.get_asset_check_evaluations()}
    assert sorted(evaluations) == sorted((day, c) for day in DAYS[:2] for c in CHECKS)
    failed = evaluations[(DAYS[1], "grain_is_unique")]
    assert (failed.passed, failed.metadata["failed_rows"].value) == (False, 6)
    assert len(failed.metadata["sample"].value) == 5
    assert failed.target_materialization_data is None
    assert all(e.passed for key, e in evaluations.items() if key != (DAYS[1], "grain_is_unique"))
    assert evaluations[(DAYS[0], "keys_not_null")].target_materialization_data is not None
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(ADDON_AGGREGATES.name), "grain_is_unique"), limit=10
    )
    assert sorted((h.partition, h.status.value) for h in history) == [
        (DAYS[0], "SUCCEEDED"),
        (DAYS[1], "FAILED"),
    ]


@pytest.mark.process
def test_a_range_run_from_the_cli_records_one_passing_result_per_check_and_day(
    sources: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").touch()
    env = child_env(
        DAGSTER_HOME=str(home),
        ADDON_OKRS_SOURCE_ROOT=sources.as_uri(),
        ADDON_OKRS_OUTPUT_ROOT=(tmp_path / "out").as_uri(),
        # Dagster's CLI runs a partition range only for assets that backfill as one run.
        ADDON_OKRS_BACKFILL_DAYS_PER_RUN="0",
    )
    env.pop("ADDON_OKRS_INTERMEDIATE_ROOT", None)

    done = subprocess.run(
        materialize_command(DAYS[0], DAYS[-1]), env=env, capture_output=True, text=True, timeout=600
    )

    assert done.returncode == 0, done.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        found = check_results_by_day(instance)
    assert found == {day: {check: [True] for check in CHECKS} for day in DAYS}


def test_a_single_day_run_records_one_result_per_check_for_its_day(
    spark: SparkSession, sources: Path, tmp_path: Path
) -> None:
    instance = dg.DagsterInstance.ephemeral()

    result = materialize_days(local_settings(sources, tmp_path), DAYS[2], instance=instance)

    assert result.success
    assert check_results_by_day(instance) == {DAYS[2]: {check: [True] for check in CHECKS}}
    rows = pq.read_table(tmp_path / ADDON_AGGREGATES.day_path(DAYS[2])).num_rows
    [row_count] = [
        e for e in result.get_asset_check_evaluations() if e.check_name == ROW_COUNT_STABLE
    ]
    assert {k: v.value for k, v in row_count.metadata.items()} == {"rows": rows}
    assert row_count.description == "no earlier day to compare with"
    assert Counter(e.severity for e in result.get_asset_check_evaluations()) == Counter(
        {dg.AssetCheckSeverity.ERROR: 4, dg.AssetCheckSeverity.WARN: 1}
    )
