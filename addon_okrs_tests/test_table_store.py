"""TableStore: day-by-day reads and writes, file sizing, and the single pass over the plan."""

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from addon_okrs.dataset.schema import DAY
from addon_okrs.storage.source_days import (
    EmptySourceDayError,
    MissingSourceDayError,
    SourceSchemaError,
)
from addon_okrs.storage.table_store import TableStore
from addon_okrs.storage.warehouse import Warehouse
from addon_okrs_tests.helpers import executions_scanning, file_names
from harness.settings import local_settings


def store(spark: SparkSession, root: Path, target_file_mb: float = 280) -> TableStore:
    uri = root.as_uri()
    return TableStore(
        spark, Warehouse(uri, uri, f"{uri}/intermediate"), target_file_mb=target_file_mb
    )


def numbered(spark: SparkSession, day: str, rows: int) -> DataFrame:
    return spark.range(rows).select(
        F.lit(day).alias(DAY), F.col("id"), F.sha2(F.col("id").cast("string"), 256).alias("payload")
    )


def test_intermediate_days_round_trip_with_the_day_as_a_string(
    spark: SparkSession, tmp_path: Path
) -> None:
    tables = store(spark, tmp_path)
    frame = numbered(spark, "20170501", 5).unionByName(numbered(spark, "20170502", 3))

    written = tables.write("user_types", ["20170501", "20170502"], frame, run_id="r1")

    assert [(w.day, w.rows) for w in written] == [("20170501", 5), ("20170502", 3)]
    back = tables.read("user_types", ["20170502"])
    assert back.schema[DAY].dataType.simpleString() == "string"
    assert sorted(r["id"] for r in back.collect()) == [0, 1, 2]
    day_folder = tmp_path / "intermediate/user_types/submission_date_s3=20170502"
    assert (day_folder / "_SUCCESS").exists()
    # The day leases' folder stays beside the days, hidden from Spark like _SUCCESS.
    assert sorted(p.name for p in (tmp_path / "intermediate/user_types").iterdir()) == [
        "_leases",
        "submission_date_s3=20170501",
        "submission_date_s3=20170502",
    ]


def test_a_day_without_rows_is_written_as_an_empty_table(
    spark: SparkSession, tmp_path: Path
) -> None:
    tables = store(spark, tmp_path)

    written = tables.write(
        "user_types", ["20170501", "20170502"], numbered(spark, "20170501", 2), "r1"
    )

    assert [(w.day, w.rows) for w in written] == [("20170501", 2), ("20170502", 0)]
    empty = tables.read("user_types", ["20170502"])
    assert empty.count() == 0
    assert empty.columns == ["id", "payload", DAY]


def test_output_file_count_uses_the_fallback_record_size_before_any_day_exists(
    spark: SparkSession, tmp_path: Path
) -> None:
    # 100,000 rows x 39 bytes at 1 MB a file: ceil(3.9) = 4 files.
    tables = store(spark, tmp_path, target_file_mb=1)

    [written] = tables.write(
        "addon_aggregates", ["20170501"], numbered(spark, "20170501", 100_000), "r1"
    )

    assert (written.rows, written.files) == (100_000, 4)


def test_output_file_count_uses_the_record_size_of_the_latest_day_written(
    spark: SparkSession, tmp_path: Path
) -> None:
    tables = store(spark, tmp_path, target_file_mb=1)
    [latest] = tables.write(
        "addon_aggregates", ["20170430"], numbered(spark, "20170430", 20_000), "r1"
    )
    [older] = tables.write("addon_aggregates", ["20170428"], numbered(spark, "20170428", 10), "r2")
    bytes_per_record = latest.bytes / latest.rows

    [written] = tables.write(
        "addon_aggregates", ["20170501"], numbered(spark, "20170501", 60_000), "r4"
    )

    # The latest day (20170430), not the one written last (20170428), sets the record size.
    assert older.rows == 10
    assert written.files == math.ceil(60_000 * bytes_per_record / 1_000_000)
    assert written.files > 4  # the sha2 payload makes records far larger than the 39-byte guess


def test_output_plan_runs_once_even_when_files_are_resized(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Bug 6: the notebook counted the rows with a whole extra pass before writing.
    tables = store(spark, tmp_path, target_file_mb=1)
    source = tmp_path / "upstream_input"
    numbered(spark, "20170501", 100_000).write.parquet(source.as_uri())
    plan = spark.read.parquet(source.as_uri()).where(F.col("id") >= 0)
    before = executions_scanning(spark, str(source))

    [written] = tables.write("addon_aggregates", ["20170501"], plan, "r1")

    assert written.files == 4  # a resize happened
    assert executions_scanning(spark, str(source)) - before == 1


def test_rewriting_a_day_replaces_it_and_leaves_other_days_untouched(
    spark: SparkSession, tmp_path: Path
) -> None:
    tables = store(spark, tmp_path)
    tables.write(
        "addon_aggregates",
        ["20170501", "20170502"],
        numbered(spark, "20170501", 4).unionByName(numbered(spark, "20170502", 6)),
        "r1",
    )
    other_day = tmp_path / "addons/agg/v1/submission_date_s3=20170502"
    other_before = {p.name: p.read_bytes() for p in other_day.iterdir()}

    tables.write("addon_aggregates", ["20170501"], numbered(spark, "20170501", 2), "r2")

    assert sorted(r["id"] for r in tables.read("addon_aggregates", ["20170501"]).collect()) == [
        0,
        1,
    ]
    assert {p.name: p.read_bytes() for p in other_day.iterdir()} == other_before
    assert file_names(tmp_path / "addons/agg/v1") == [
        "_leases",
        "submission_date_s3=20170501",
        "submission_date_s3=20170502",
    ]


def test_frame_with_a_day_outside_the_run_replaces_nothing(
    spark: SparkSession, tmp_path: Path
) -> None:
    tables = store(spark, tmp_path)
    tables.write("user_types", ["20170501"], numbered(spark, "20170501", 3), "r1")
    day = tmp_path / "intermediate/user_types/submission_date_s3=20170501"
    before = {p.name: p.read_bytes() for p in day.iterdir()}

    stray = numbered(spark, "20170501", 1).unionByName(numbered(spark, "20170509", 1))
    with pytest.raises(
        RuntimeError,
        match=r"table user_types: the frame holds days outside this run "
        r"\(\['submission_date_s3=20170509'\]\)",
    ):
        tables.write("user_types", ["20170501"], stray, "r2")

    assert {p.name: p.read_bytes() for p in day.iterdir()} == before
    assert file_names(tmp_path / "intermediate/user_types") == [
        "_leases",
        "submission_date_s3=20170501",
    ]


def test_missing_source_day_names_table_day_and_path(spark: SparkSession, tmp_path: Path) -> None:
    tables = store(spark, tmp_path)

    with pytest.raises(MissingSourceDayError) as error:
        tables.read("main_summary", ["20170501"])

    expected_path = f"{tmp_path.as_uri()}/main_summary/v4/submission_date_s3=20170501"
    assert str(error.value).startswith(
        f"table main_summary: no folder for day(s) 20170501 (looked for {expected_path})"
    )


def write_main_summary_files(root: Path, files: dict[str, pa.Table]) -> Path:
    folder = root / "main_summary/v4" / "submission_date_s3=20170501" / "sample_id=7"
    folder.mkdir(parents=True)
    for name, table in files.items():
        pq.write_table(table, folder / name)
    (folder / "_SUCCESS").touch()
    return folder


THEME = pa.struct([("addon_id", pa.string()), ("name", pa.string())])
ADDON = pa.struct([("addon_id", pa.string()), ("install_day", pa.int32())])


def pings(client: str, created: int, theme: str | None = None) -> dict[str, pa.Array]:
    columns = {
        "client_id": pa.array([client]),
        "normalized_channel": pa.array(["release"]),
        "profile_creation_date": pa.array([created], pa.int64()),
        "os": pa.array(["Linux"]),
        "active_addons": pa.array([[{"addon_id": "a@x", "install_day": 17000}]], pa.list_(ADDON)),
    }
    if theme is not None:
        columns["active_theme"] = pa.array([{"addon_id": theme, "name": "T"}], THEME)
    return columns


def test_a_source_day_is_read_with_the_contract_schema_and_no_spark_job(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Two files of one day, the older one written before active_theme existed: the contract
    # column is in the day (merged), and the older file's rows read it as null.
    write_main_summary_files(
        tmp_path,
        {
            "new.parquet": pa.table(pings("c1", 16000, theme="t@x")),
            "old.parquet": pa.table(pings("c2", 15000)),
        },
    )
    tracker = spark.sparkContext.statusTracker()
    jobs_before = set(tracker.getJobIdsForGroup())

    frame = store(spark, tmp_path).read("main_summary", ["20170501"])

    assert set(tracker.getJobIdsForGroup()) == jobs_before  # no listing or schema job
    assert frame.schema.simpleString() == (
        "struct<client_id:string,normalized_channel:string,profile_creation_date:bigint,"
        "active_addons:array<struct<install_day:int>>,active_theme:struct<addon_id:string>,"
        "submission_date_s3:string>"
    )
    rows = sorted(
        (r.client_id, r.profile_creation_date, r.active_theme and r.active_theme.addon_id, r[DAY])
        for r in frame.collect()
    )
    assert rows == [("c1", 16000, "t@x", "20170501"), ("c2", 15000, None, "20170501")]


def test_a_source_file_with_another_type_for_a_contract_column_is_named(
    spark: SparkSession, tmp_path: Path
) -> None:
    good = pa.table(pings("c1", 16000, theme="t@x"))
    narrow = good.set_column(
        good.schema.get_field_index("profile_creation_date"),
        "profile_creation_date",
        pa.array([16000], pa.int32()),
    )
    folder = write_main_summary_files(tmp_path, {"a.parquet": good, "b.parquet": narrow})

    with pytest.raises(SourceSchemaError) as error:
        store(spark, tmp_path).read("main_summary", ["20170501"])

    assert str(error.value) == (
        f"table main_summary, day(s) 20170501 ({tmp_path.as_uri()}/main_summary/v4): column "
        f"profile_creation_date should be bigint, found int. File: file://{folder}/b.parquet"
    )


def test_a_source_day_folder_without_data_files_is_refused_naming_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = tmp_path / "addons/v2" / "submission_date_s3=20170501"
    folder.mkdir(parents=True)
    (folder / "_SUCCESS").touch()

    with pytest.raises(EmptySourceDayError) as error:
        store(spark, tmp_path).read("addons", ["20170501"])

    assert str(error.value) == (
        f"table addons, day 20170501: no data files under file://{folder} (only 1 marker or "
        "hidden file(s)). Upstream wrote an empty day; rewrite it upstream, then run the day "
        "again."
    )


def test_source_tables_are_never_written(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="addons is a source table of this project"):
        store(spark, tmp_path).write("addons", ["20170501"], numbered(spark, "20170501", 1), "r1")


def test_next_write_recovers_a_day_a_killed_run_left_between_its_two_renames(
    spark: SparkSession, tmp_path: Path
) -> None:
    tables = store(spark, tmp_path)
    tables.write("addon_aggregates", ["20170501"], numbered(spark, "20170501", 3), "r1")
    table = tmp_path / "addons/agg/v1"
    published = {p.name: p.read_bytes() for p in (table / "submission_date_s3=20170501").iterdir()}
    # What a writer killed mid-swap leaves: the old day moved aside, its new day still staged.
    (table / "_replaced/dead-run").mkdir(parents=True)
    (table / "submission_date_s3=20170501").rename(
        table / "_replaced/dead-run/submission_date_s3=20170501"
    )
    (table / "_staging/dead-run/submission_date_s3=20170501").mkdir(parents=True)
    (table / "_staging/dead-run/submission_date_s3=20170501/part-0.parquet").write_bytes(b"half")

    tables.write("addon_aggregates", ["20170502"], numbered(spark, "20170502", 2), "r2")

    assert file_names(table) == [
        "_leases",
        "submission_date_s3=20170501",
        "submission_date_s3=20170502",
    ]
    day = table / "submission_date_s3=20170501"
    assert {p.name: p.read_bytes() for p in day.iterdir()} == published


def test_a_day_whose_new_copy_was_only_partly_moved_gets_its_previous_output_back(
    spark: SparkSession, tmp_path: Path
) -> None:
    # On an object store a move is copy + delete: a writer killed mid-copy leaves a partial
    # final folder while its staged copy still exists.
    tables = store(spark, tmp_path)
    tables.write("addon_aggregates", ["20170501"], numbered(spark, "20170501", 3), "r1")
    table = tmp_path / "addons/agg/v1"
    day = table / "submission_date_s3=20170501"
    published = {p.name: p.read_bytes() for p in day.iterdir()}
    (table / "_replaced/dead-run").mkdir(parents=True)
    day.rename(table / "_replaced/dead-run/submission_date_s3=20170501")
    staged = table / "_staging/dead-run/submission_date_s3=20170501"
    staged.mkdir(parents=True)
    (staged / "part-1.parquet").write_bytes(b"not copied yet")
    day.mkdir()
    (day / "part-0.parquet").write_bytes(b"copied")

    tables.write("addon_aggregates", ["20170502"], numbered(spark, "20170502", 2), "r2")

    assert {p.name: p.read_bytes() for p in day.iterdir()} == published
    assert file_names(table) == [
        "_leases",
        "submission_date_s3=20170501",
        "submission_date_s3=20170502",
    ]


def test_a_root_whose_uri_escapes_a_space_is_one_folder_for_spark_and_for_the_folder_work(
    spark: SparkSession, tmp_path: Path
) -> None:
    root = tmp_path / "a root with spaces"
    assert root.as_uri().endswith("/a%20root%20with%20spaces")
    # The roots reach the storage layer through the settings, which normalise them.
    tables = TableStore(spark, local_settings(root, root).warehouse())

    [written] = tables.write("user_types", ["20170501"], numbered(spark, "20170501", 7), "r1")

    folder = root / "intermediate/user_types/submission_date_s3=20170501"
    assert written.rows == 7
    assert written.files == len(list(folder.glob("*.parquet"))) > 0
    assert written.uri == f"file://{folder}"
    assert "_SUCCESS" in file_names(folder)
    assert tables.read("user_types", ["20170501"]).count() == 7
    assert not (tmp_path / "a%20root%20with%20spaces").exists()
