"""Bad input fails clearly (day, table, path or column named) and never touches published output."""

import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs.defs.partitions import daily_partitions
from addon_okrs.settings import Settings
from addon_okrs.storage.locations import StorageConfigError
from addon_okrs.tools import cli
from addon_okrs.tools.generate import generate_days
from addon_okrs.tools.in_process import materialize_days
from addon_okrs_tests.helpers import executions_scanning
from harness.settings import local_settings

DAY = "20170501"


@pytest.fixture(scope="module")
def published(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good sources for two days and their published output."""
    base = tmp_path_factory.mktemp("published")
    generate_days((base / "sources").as_uri(), DAY, 2, clients=1500, seed=9, samples=2)
    result = run(base, range_end="20170502")
    assert result.success
    return base


def run(
    base: Path,
    range_end: str | None = None,
    run_config: dict[str, Any] | None = None,
    **settings: Any,
) -> dg.ExecuteInProcessResult:
    return materialize_days(
        local_settings(base / "sources", base / "output", **settings),
        DAY,
        range_end,
        run_config=run_config,
    )


@pytest.fixture
def base(published: Path, tmp_path: Path) -> Path:
    shutil.copytree(published, tmp_path, dirs_exist_ok=True)
    return tmp_path


def published_files(base: Path) -> dict[str, bytes]:
    """Every file where readers look: addons/agg/v1, staging folders excluded by name."""
    table = base / "output" / "addons/agg/v1"
    return {str(p.relative_to(table)): p.read_bytes() for p in table.rglob("*") if p.is_file()}


def failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {
        e.step_key or "": e.step_failure_data.error.message
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE and e.step_failure_data.error
    }


def source_files(base: Path, table: str) -> list[Path]:
    return sorted((base / "sources" / table / f"submission_date_s3={DAY}").rglob("*.parquet"))


def rewrite(base: Path, table: str, change: Any) -> None:
    for path in source_files(base, table):
        pq.write_table(change(pq.read_table(path)), path)


def assert_failed_and_output_intact(
    base: Path, result: dg.ExecuteInProcessResult, before: dict[str, bytes], step: str, message: str
) -> None:
    assert not result.success
    assert message in failures(result)[step]
    assert published_files(base) == before
    assert sorted(p.name for p in (base / "output" / "addons/agg/v1").iterdir()) == [
        "_leases",
        "submission_date_s3=20170501",
        "submission_date_s3=20170502",
    ]


def test_missing_source_day_fails_before_spark_naming_table_day_and_path(
    spark: SparkSession, base: Path
) -> None:
    folder = base / "sources" / "main_summary/v4" / f"submission_date_s3={DAY}"
    shutil.rmtree(folder)
    before = published_files(base)
    scans = executions_scanning(spark, str(folder.parent))

    result = run(base)

    assert_failed_and_output_intact(
        base,
        result,
        before,
        "ms_has_theme",
        f"table main_summary: no folder for day(s) {DAY} (looked for file://{folder})",
    )
    assert executions_scanning(spark, str(folder.parent)) == scans


def test_source_day_without_success_markers_is_not_built_unless_forced(base: Path) -> None:
    folder = base / "sources" / "addons/v2" / f"submission_date_s3={DAY}"
    for marker in folder.rglob("_SUCCESS"):
        marker.unlink()
    before = published_files(base)

    refused = run(base)

    assert_failed_and_output_intact(
        base,
        refused,
        before,
        "count_by_client_day",
        f"table addons, day {DAY}: not ready, 0 _SUCCESS marker(s) under file://{folder}, "
        "1 needed. Upstream may still be writing it; wait for the arrival sensor, or set "
        "ADDON_OKRS_ALLOW_UNREADY_SOURCES=true to build it as it is.",
    )
    forced = run(base, allow_unready_sources=True)
    assert forced.success, failures(forced)


@pytest.mark.parametrize(
    ("table", "column", "columns_found"),
    [
        (
            "addons",
            "foreign_install",
            "document_id, client_id, subsession_start_date, normalized_channel, addon_id",
        ),
        (
            "main_summary",
            "active_theme",
            "client_id, normalized_channel, profile_creation_date, os, active_addons",
        ),
    ],
)
def test_missing_required_column_names_it_and_lists_the_columns_found(
    base: Path, table: str, column: str, columns_found: str
) -> None:
    path = {"addons": "addons/v2", "main_summary": "main_summary/v4"}[table]
    rewrite(base, path, lambda t: t.drop_columns([column]))
    before = published_files(base)

    result = run(base)

    step = {"addons": "count_by_client_day", "main_summary": "ms_has_theme"}[table]
    expected = (
        f"table {table}, day(s) {DAY} (file://{base}/sources/{path}): required column {column} "
        f"is missing. Columns found: {columns_found}"
    )
    assert_failed_and_output_intact(base, result, before, step, expected)


def test_required_column_of_the_wrong_type_names_expected_and_found(base: Path) -> None:
    def install_day_as_string(table: pa.Table) -> pa.Table:
        element = table.schema.field("active_addons").type.value_type
        fields = [pa.field(f.name, pa.string()) if f.name == "install_day" else f for f in element]
        target = table.schema.set(
            table.schema.get_field_index("active_addons"),
            pa.field("active_addons", pa.list_(pa.struct(fields))),
        )
        return table.cast(target)

    rewrite(base, "main_summary/v4", install_day_as_string)
    before = published_files(base)

    result = run(base)

    assert_failed_and_output_intact(
        base,
        result,
        before,
        "ms_has_theme",
        f"table main_summary, day(s) {DAY} (file://{base}/sources/main_summary/v4): column "
        "active_addons[].install_day should be int, found string.",
    )


def test_truncated_parquet_file_is_named(base: Path) -> None:
    broken = source_files(base, "addons/v2")[1]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    before = published_files(base)

    result = run(base)

    relative = broken.relative_to(base / "sources" / "addons/v2" / f"submission_date_s3={DAY}")
    assert_failed_and_output_intact(
        base,
        result,
        before,
        "count_by_client_day",
        f"table addons, day {DAY}: file://{base}/sources/addons/v2/submission_date_s3={DAY}/"
        f"{relative} is not a readable parquet file (",
    )


def test_a_day_empty_after_the_filters_fails_unless_allowed(base: Path) -> None:
    def all_system(table: pa.Table) -> pa.Table:
        column = table.schema.get_field_index("is_system")
        return table.set_column(column, "is_system", pa.array([True] * table.num_rows))

    rewrite(base, "addons/v2", all_system)
    before = published_files(base)

    refused = run(base)

    assert_failed_and_output_intact(
        base,
        refused,
        before,
        "addon_aggregates",
        f"{DAY}: addons has no enabled add-on of a known client. An empty day is an upstream "
        "incident: nothing was written, and the previous output of the day is untouched. To "
        "publish it anyway, run addon_aggregates with config allow_empty: true.",
    )
    allowed = run(base, run_config={"ops": {"addon_aggregates": {"config": {"allow_empty": True}}}})
    assert allowed.success, failures(allowed)
    assert pq.read_table(base / "output/addons/agg/v1" / f"submission_date_s3={DAY}").num_rows == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "ftp://host/x",
            "ADDON_OKRS_OUTPUT_ROOT='ftp://host/x' has scheme 'ftp'; "
            "supported: file://, s3://, s3a://, s3n://",
        ),
        (
            "file://relative/x",
            "ADDON_OKRS_OUTPUT_ROOT='file://relative/x' is not an absolute file URI: write file:///absolute/path",
        ),
        (
            "s3a:///no-bucket",
            "ADDON_OKRS_OUTPUT_ROOT='s3a:///no-bucket' names no bucket: write s3a://bucket/prefix",
        ),
    ],
)
def test_malformed_storage_uri_is_rejected_at_load_naming_the_setting(
    value: str, message: str
) -> None:
    with pytest.raises(StorageConfigError) as error:
        Settings.from_env({"ADDON_OKRS_OUTPUT_ROOT": value})

    assert str(error.value) == message


def test_rerunning_a_day_is_idempotent(base: Path) -> None:
    table = base / "output/addons/agg/v1"
    other_day = {
        k: v
        for k, v in published_files(base).items()
        if k.startswith("submission_date_s3=20170502/")
    }
    rows_before = sorted(map(repr, pq.read_table(table / f"submission_date_s3={DAY}").to_pylist()))
    files_before = sorted(
        p.name for p in (table / f"submission_date_s3={DAY}").glob("part-*.parquet")
    )

    assert run(base).success

    rows_after = sorted(map(repr, pq.read_table(table / f"submission_date_s3={DAY}").to_pylist()))
    files_after = sorted(
        p.name for p in (table / f"submission_date_s3={DAY}").glob("part-*.parquet")
    )
    assert len(rows_before) > 1000
    assert rows_after == rows_before
    assert len(files_after) == len(files_before) == 1
    assert {
        k: v
        for k, v in published_files(base).items()
        if k.startswith("submission_date_s3=20170502/")
    } == other_day


@pytest.mark.parametrize(
    ("day", "problem"),
    [
        ("2017-05-01", "'2017-05-01' is not a day key"),
        ("20170532", "'20170532' is not a day key"),
        ("20161231", "20161231 is outside the partitions"),
        ("20991231", "20991231 is outside the partitions"),
    ],
)
def test_a_day_outside_the_partitions_or_malformed_is_refused_with_the_valid_range(
    capsys: pytest.CaptureFixture[str], day: str, problem: str
) -> None:
    last = daily_partitions.get_last_partition_key()

    with pytest.raises(SystemExit) as exit_:
        cli.main(["materialize", "--date", day])

    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"argument --date: {problem}: days are YYYYMMDD (UTC) from 20170101 to {last}, "
        "the last complete day\n"
    )
