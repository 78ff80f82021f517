"""parquet_merge: a Spark write's files merged into fewer by copying their row groups."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from addon_okrs.storage.locations import Location
from addon_okrs.storage.parquet_merge import groups, merge


def test_groups_are_runs_of_neighbours_with_about_equal_bytes() -> None:
    assert groups([10] * 8, 4) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert groups([10] * 8, 3) == [[0, 1, 2], [3, 4], [5, 6, 7]]
    assert groups([10] * 8, 1) == [list(range(8))]
    assert groups([10, 20, 30], 3) == [[0], [1], [2]]
    # A file far larger than a share takes a run alone; no run is left empty.
    assert groups([100, 1, 1, 1], 2) == [[0], [1, 2, 3]]
    assert groups([1, 1, 1, 100], 3) == [[0, 1], [2], [3]]
    assert groups([0, 0, 0], 2) == [[0, 1], [2]]


@pytest.mark.parametrize("wanted", [0, 4])
def test_groups_refuses_a_count_it_cannot_make(wanted: int) -> None:
    with pytest.raises(ValueError, match=f"cannot merge 3 files into {wanted}"):
        groups([1, 1, 1], wanted)


def test_merged_files_hold_the_same_rows_and_spark_schema_and_run_no_spark_job(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = tmp_path / "day"
    frame = spark.range(10_000).select(
        F.col("id"),
        (F.col("id") % 7 == 0).alias("flag"),
        F.when(F.col("id") % 3 == 0, None).otherwise(F.col("id").cast("string")).alias("text"),
    )
    frame.repartition(8).write.parquet(folder.as_uri())
    location = Location.from_uri(folder.as_uri())
    before = location.data_files()
    expected = sorted(spark.read.parquet(folder.as_uri()).collect())
    spark_schema = spark.read.parquet(folder.as_uri()).schema
    footer = pq.ParquetFile(before[0].path).metadata.metadata
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup())

    assert merge(spark, location, before, 3) is True

    after = location.data_files()
    assert len(before) == 8
    assert len(after) == 3
    assert {i.path for i in before}.isdisjoint(i.path for i in after)
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup()) == jobs
    # Each new file is its run's row groups, one per file it replaced (each 1,250 rows).
    runs = [pq.ParquetFile(i.path).metadata for i in after]
    assert [m.num_row_groups for m in runs] == [3, 2, 3]
    assert [m.num_rows for m in runs] == [3_750, 2_500, 3_750]
    back = spark.read.parquet(folder.as_uri())
    assert back.schema == spark_schema
    # The footer keeps what Spark wrote there (its schema, its version).
    assert [m.metadata for m in runs] == [footer] * 3
    assert b"org.apache.spark.sql.parquet.row.metadata" in footer
    assert sorted(back.collect()) == expected
    # A reader outside Spark sees the same rows.
    table = pq.read_table(folder)
    assert table.num_rows == 10_000
    assert sorted(table.column("id").to_pylist()) == list(range(10_000))
    assert sum(v is None for v in table.column("text").to_pylist()) == 3_334
    assert (folder / "_SUCCESS").exists()  # only data files are merged
    # No checksum file outlives the file it checks.
    names = {p.name for p in folder.iterdir()}
    checksums = {n for n in names if n.endswith(".crc")}
    assert {f".{i.base_name}.crc" for i in after} <= checksums
    assert {n.removeprefix(".").removesuffix(".crc") for n in checksums} <= names | {"_SUCCESS"}
