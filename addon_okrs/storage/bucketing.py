"""The per-client intermediates on disk in the layout their consumers join on: each day's rows
bucketed by client id into CLIENT_PARTITIONS files, and read back as a Spark bucketed table, so
that a group-by or join on the client (transforms.by_client) needs no shuffle (docs/storage.md).

Spark writes buckets only into a catalog table, and scans buckets only from one: a write goes
through a table of the session's catalog over the staging folder, dropped once written; a read
declares a table over the table's folder with the run's days as its partitions, dropped when the
store closes. Neither touches the files. Each bucketed day carries a record of its layout,
`_BUCKETING`; a read whose days do not all carry the same record as the graph's layout (days
written before bucketing, an empty day, another bucket count) reads the days as plain parquet and
shuffles them into the same partitioning. To any other reader the files are plain parquet.
"""

import json
import uuid
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from addon_okrs.dataset.schema import CLIENT_ID, CLIENT_PARTITIONS, DAY
from addon_okrs.storage.locations import Location

RECORD = "_BUCKETING"
PREFIX = "addon_okrs_"


@dataclass(frozen=True)
class Layout:
    """How a day's files are bucketed, and the schema of their data columns (the day is the
    folder)."""

    column: str
    buckets: int
    schema: str  # StructType JSON

    @classmethod
    def of(cls, frame: DataFrame) -> "Layout":
        """The graph's layout for a frame's rows."""
        return cls(CLIENT_ID, CLIENT_PARTITIONS, frame.drop(DAY).schema.json())

    def to_bytes(self) -> bytes:
        record = {"column": self.column, "buckets": self.buckets, "schema": self.schema}
        return json.dumps(record, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Layout | None":
        """The record's layout, or None for a record this code cannot read."""
        try:
            record = json.loads(data)
            return cls(str(record["column"]), int(record["buckets"]), str(record["schema"]))
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def is_graphs(self) -> bool:
        """Bucketed the way the graph partitions its per-client frames."""
        return self.column == CLIENT_ID and self.buckets == CLIENT_PARTITIONS


def day_layout(day: Location) -> Layout | None:
    """A written or staged day's layout, or None if it was not written bucketed."""
    data = day.read_bytes(RECORD)
    return None if data is None else Layout.from_bytes(data)


def write(spark: SparkSession, frame: DataFrame, uri: str) -> None:
    """The frame's rows under `uri`, one folder per day, each bucketed by client id."""
    name = f"{PREFIX}write_{uuid.uuid4().hex}"
    try:
        (
            frame.write.format("parquet")
            .mode("overwrite")
            .partitionBy(DAY)
            .bucketBy(CLIENT_PARTITIONS, CLIENT_ID)
            .option("path", uri)
            .saveAsTable(name)
        )
    finally:
        # The table was declared over the path (an external table): dropping it keeps the files.
        spark.sql(f"DROP TABLE IF EXISTS {name}")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _columns(schema: T.StructType) -> str:
    return ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in schema.fields)


class BucketedReads:
    """The tables one store declared in its session's catalog to read bucketed days; `close`
    drops them (a Spark Connect server's catalog outlives the run)."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.names: list[str] = []

    def read(self, root: Location, layout: Layout, days: dict[str, Location]) -> DataFrame:
        """The given days (day -> folder) of a table under `root`, all written with `layout`,
        as one bucketed scan; the day is a string column, last, as in a plain read."""
        name = f"{PREFIX}read_{uuid.uuid4().hex}"
        schema = T.StructType.fromJson(json.loads(layout.schema))
        self.spark.sql(
            f"CREATE TABLE {name} ({_columns(schema)}, `{DAY}` STRING) USING parquet "
            f"PARTITIONED BY (`{DAY}`) CLUSTERED BY (`{layout.column}`) "
            f"INTO {layout.buckets} BUCKETS LOCATION {_quoted(root.uri)}"
        )
        self.names.append(name)
        for day, folder in days.items():
            self.spark.sql(
                f"ALTER TABLE {name} ADD PARTITION (`{DAY}`={_quoted(day)}) "
                f"LOCATION {_quoted(folder.uri)}"
            )
        return self.spark.table(name)

    def close(self) -> None:
        while self.names:
            self.spark.sql(f"DROP TABLE IF EXISTS {self.names.pop()}")
