"""The per-client intermediates written bucketed by client id and read back without a shuffle
(storage/bucketing.py): the layout on disk, the plans their consumers get, the fallback for days
written otherwise, and what the store leaves in the session's catalog."""

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from addon_okrs.dataset import transforms
from addon_okrs.dataset.schema import CLIENT_PARTITIONS, DAY
from addon_okrs.storage import bucketing
from addon_okrs.storage.table_store import TableStore
from addon_okrs.storage.warehouse import Warehouse

DAYS = ["20170501", "20170502"]
BUCKET_FILE = re.compile(r"^part-\d{5}-[0-9a-f-]+_(\d{5})\.c\d{3}\.snappy\.parquet$")


def store(spark: SparkSession, root: Path) -> TableStore:
    uri = root.as_uri()
    return TableStore(spark, Warehouse(uri, uri, f"{uri}/intermediate"))


def per_client(spark: SparkSession, clients: int) -> dict[str, DataFrame]:
    """The four per-client intermediates and channel_counts of `clients` clients a day, each
    client on one channel, with facts that tell the clients apart."""
    base = spark.range(clients).crossJoin(spark.createDataFrame([(d,) for d in DAYS], [DAY]))
    base = base.select(
        DAY,
        F.format_string("client-%05d", "id").alias("client_id"),
        F.when(F.col("id") % 3 == 0, "release").otherwise("beta").alias("normalized_channel"),
        F.col("id"),
    )
    counts = base.select(
        DAY,
        "client_id",
        "normalized_channel",
        (F.col("id") % 2 == 0).alias("foreign_install"),
        (F.col("id") % 5 + 1).cast("long").alias("count"),
    )
    themes = base.select(
        DAY,
        "client_id",
        "normalized_channel",
        (F.col("id") % 3 - 1).cast("long").alias("has_custom_theme"),
        (F.col("id") + 15000).cast("long").alias("profile_creation_date"),
        (F.col("id") % 100 + 17000).cast("int").alias("min_install_day"),
    )
    return {
        "count_by_client_day": transforms.by_client(counts),
        "user_types": transforms.user_types(transforms.by_client(counts)),
        "ms_has_theme": transforms.by_client(themes),
        "ms_install_days": transforms.ms_install_days(transforms.by_client(themes)),
        "channel_counts": transforms.channel_counts(themes),
    }


def aggregates(frames: dict[str, DataFrame]) -> DataFrame:
    return transforms.addon_aggregates(
        frames["count_by_client_day"],
        frames["user_types"],
        frames["ms_install_days"],
        frames["ms_has_theme"],
        frames["channel_counts"],
    )


def plan(frame: DataFrame) -> str:
    return str(frame._jdf.queryExecution().executedPlan().toString())


def shuffles(frame: DataFrame) -> int:
    """Hash exchanges in the frame's plan (broadcasts are not shuffles)."""
    return plan(frame).count("Exchange hashpartitioning")


def rows(frame: DataFrame) -> list[tuple]:
    return sorted(tuple(r) for r in frame.collect())


@pytest.fixture(scope="module")
def written_root(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both days of every intermediate, written once for the module (tests copy it to change it)."""
    root = tmp_path_factory.mktemp("bucketed")
    tables = store(spark, root)
    for name, frame in per_client(spark, 500).items():
        tables.write(name, DAYS, frame, run_id="r1")
    tables.close()
    return root


@pytest.fixture()
def written(spark: SparkSession, written_root: Path) -> Iterator[TableStore]:
    tables = store(spark, written_root)
    yield tables
    tables.close()


def test_a_per_client_day_is_one_file_per_bucket_with_its_layout_record(
    written_root: Path,
) -> None:
    day = written_root / "intermediate/count_by_client_day" / f"{DAY}={DAYS[0]}"
    data = sorted(p.name for p in day.iterdir() if not p.name.startswith(("_", ".")))
    # by_client's partitions are the buckets: each write task holds exactly one.
    assert sorted(int(BUCKET_FILE.match(n).group(1)) for n in data) == list(  # type: ignore[union-attr]
        range(CLIENT_PARTITIONS)
    )
    record = json.loads((day / bucketing.RECORD).read_text())
    assert (record["column"], record["buckets"]) == ("client_id", CLIENT_PARTITIONS)
    assert [f["name"] for f in json.loads(record["schema"])["fields"]] == [
        "client_id",
        "normalized_channel",
        "foreign_install",
        "count",
    ]
    # A reader outside Spark sees a plain parquet table: every row once, no bucket column.
    outside = pq.ParquetDataset(str(day), partitioning=None).read()
    assert outside.num_rows == 500
    assert outside.column_names == ["client_id", "normalized_channel", "foreign_install", "count"]
    # channel_counts is a few rows: written plain.
    channels = written_root / "intermediate/channel_counts" / f"{DAY}={DAYS[0]}"
    assert not (channels / bucketing.RECORD).exists()


def test_the_consumers_read_bucketed_days_without_a_shuffle(
    spark: SparkSession, written: TableStore
) -> None:
    expected = rows(aggregates(per_client(spark, 500)))
    read = {name: written.read(name, DAYS) for name in bucketing_tables()}
    read["channel_counts"] = written.read("channel_counts", DAYS)

    joined = aggregates(read)

    assert shuffles(joined) == 0
    assert shuffles(transforms.user_types(read["count_by_client_day"])) == 0
    assert shuffles(transforms.ms_install_days(read["ms_has_theme"])) == 0
    assert rows(joined) == expected
    assert len(expected) == 1000
    # The same plan over plain reads shuffles each per-client input once.
    assert shuffles(aggregates(per_client(spark, 500))) >= 2


def bucketing_tables() -> list[str]:
    return ["count_by_client_day", "user_types", "ms_has_theme", "ms_install_days"]


def test_days_without_the_graphs_layout_are_read_plain_and_shuffled_alike(
    spark: SparkSession, written_root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A day written before bucketing (no record) or with another bucket count: the read falls
    back to a plain scan and one shuffle into the same partitioning, with the same rows."""
    shutil.copytree(written_root, tmp_path, dirs_exist_ok=True)
    tables = store(spark, tmp_path)
    request.addfinalizer(tables.close)
    expected = rows(tables.read("ms_has_theme", DAYS))
    folders = tmp_path / "intermediate/ms_has_theme"
    (folders / f"{DAY}={DAYS[0]}" / bucketing.RECORD).unlink()
    other = folders / f"{DAY}={DAYS[1]}" / bucketing.RECORD
    record = json.loads(other.read_text())
    other.write_text(json.dumps({**record, "buckets": 16}))

    for days in (DAYS, DAYS[:1], DAYS[1:]):
        frame = tables.read("ms_has_theme", days)
        assert shuffles(frame) == 1, days
        assert rows(frame) == [r for r in expected if r[-1] in days]
    assert shuffles(transforms.ms_install_days(tables.read("ms_has_theme", DAYS))) == 1


def test_an_empty_day_is_read_plain(
    spark: SparkSession, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tables = store(spark, tmp_path)
    frame = per_client(spark, 20)["ms_install_days"].where(F.col(DAY) == DAYS[0])

    tables.write("ms_install_days", DAYS, frame, run_id="r1")
    request.addfinalizer(tables.close)

    empty = tmp_path / "intermediate/ms_install_days" / f"{DAY}={DAYS[1]}"
    assert not (empty / bucketing.RECORD).exists()
    assert tables.read("ms_install_days", DAYS[1:]).count() == 0
    assert tables.read("ms_install_days", DAYS).count() == 20


def test_closing_the_store_drops_its_catalog_tables_and_keeps_the_files(
    spark: SparkSession, written: TableStore, written_root: Path
) -> None:
    def declared() -> list[str]:
        return [t.name for t in spark.catalog.listTables() if t.name.startswith(bucketing.PREFIX)]

    assert written.read("user_types", DAYS).count() == 1000
    assert len(declared()) == 1  # the read's table; the writes' are dropped once written
    files = sorted((written_root / "intermediate/user_types").rglob("*"))

    written.close()

    assert declared() == []
    assert sorted((written_root / "intermediate/user_types").rglob("*")) == files
    assert written.read("user_types", DAYS).count() == 1000
    written.close()
