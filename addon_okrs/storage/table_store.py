"""Reading and writing days of the warehouse's tables with Spark, without Dagster: a read
checks a source day first (source_days.py); a write stages the run's days next to the table,
sizes them, and swaps each into place whole (docs/storage.md). Knows nothing about the
business rules."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from addon_okrs.dataset import sizing
from addon_okrs.dataset.local_frame import local_frame
from addon_okrs.dataset.schema import CLIENT_ID, CLIENT_PARTITIONS, DAY, SOURCE_CONTRACTS
from addon_okrs.storage import bucketing, parquet_merge
from addon_okrs.storage.catalog import day_folder
from addon_okrs.storage.day_swap import DayFolders
from addon_okrs.storage.leases import DEFAULT_LEASE_SECONDS, DayLeases
from addon_okrs.storage.locations import MARKER, Location
from addon_okrs.storage.source_days import (
    MissingSourceDayError,
    SourceDayError,
    check_ready_day,
    check_source_files,
    read_schema,
)
from addon_okrs.storage.warehouse import Table, Warehouse


@dataclass(frozen=True)
class DayWrite:
    """What one day of a write produced, for the run's metadata."""

    day: str
    rows: int
    files: int
    bytes: int
    uri: str


class TableStore:
    """Reads and writes days of the warehouse's tables with one Spark session."""

    def __init__(
        self,
        spark: SparkSession,
        warehouse: Warehouse,
        target_file_mb: float = sizing.TARGET_FILE_MB,
        min_success_markers: int = 1,
        allow_unready_sources: bool = False,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.spark = spark
        self.warehouse = warehouse
        self.target_file_mb = target_file_mb
        self.min_success_markers = min_success_markers
        self.allow_unready_sources = allow_unready_sources
        self.bucketed_reads = bucketing.BucketedReads(spark)

    def close(self) -> None:
        """Drop what the store declared in the session's catalog (no file is touched)."""
        self.bucketed_reads.close()

    def table(self, name: str) -> Table:
        return self.warehouse.table(name)

    def read(self, name: str, days: Sequence[str]) -> DataFrame:
        """The given days of a table in one scan, the day as a string column.

        A source day is checked first (ready, every footer readable, the contract's columns
        there with their types) and then read with the contract's schema: only the columns the
        job uses, and no schema inference over its files. Our own tables merge their schemas.
        A bucketed table's frame is partitioned by client (transforms.by_client): by a bucketed
        scan when every day carries the graph's layout, else by a shuffle after a plain read.
        """
        table = self.table(name)
        folders = [table.day(d) for d in days]
        missing = [(d, f.uri) for d, f in zip(days, folders, strict=True) if not f.exists()]
        if missing:
            raise MissingSourceDayError(
                f"table {name}: no folder for day(s) {', '.join(d for d, _ in missing)} "
                f"(looked for {', '.join(uri for _, uri in missing)}). Check that the upstream "
                "job has written them, or that the root setting points at the right place."
            )
        if table.spec.bucketed:
            layouts = {bucketing.day_layout(f) for f in folders}
            layout = layouts.pop() if len(layouts) == 1 else None
            if layout is not None and layout.is_graphs:
                return self.bucketed_reads.read(
                    table.location, layout, dict(zip(days, folders, strict=True))
                )
        reader = self.spark.read.option("basePath", table.location.uri)
        source_schema = read_schema(SOURCE_CONTRACTS[name]) if table.spec.is_source else None
        if source_schema is not None:
            for day, folder in zip(days, folders, strict=True):
                footers = check_ready_day(
                    name, day, folder, self.min_success_markers, self.allow_unready_sources
                )
                check_source_files(name, [day], table.location.uri, footers, SOURCE_CONTRACTS[name])
            reader = reader.schema(source_schema)
        else:
            reader = reader.option("mergeSchema", "true")
        try:
            frame = reader.parquet(*(f.uri for f in folders))
        except Exception as error:  # Spark's errors carry a JVM trace; keep its first line
            first_line = str(error).strip().splitlines()[0]
            raise SourceDayError(
                f"table {name}, day(s) {', '.join(days)} ({table.location.uri}): Spark could "
                f"not read the day's files: {first_line}"
            ) from error
        if source_schema is not None:
            # Partition columns not in the schema (sample_id) are dropped.
            return frame.select(*source_schema.fieldNames())
        # Partition discovery types 20170501 as an integer; the day is a key, not a number.
        frame = frame.withColumn(DAY, F.col(DAY).cast("string"))
        if table.spec.bucketed and CLIENT_ID in frame.columns:
            return frame.repartition(CLIENT_PARTITIONS, CLIENT_ID)
        return frame

    def protocol(self, table: Table) -> DayFolders:
        """The write protocol of a table's day folders (docs/storage.md)."""
        return self.warehouse.day_folders(table.location, f"table {table.name}", self.lease_seconds)

    @contextmanager
    def stage(
        self, name: str, days: Sequence[str], frame: DataFrame, run_id: str
    ) -> Iterator["StagedWrite"]:
        """Write the run's days of a table into a staging folder next to it, ready to publish.

        The run first takes the lease of each of its days (LeaseHeldError, naming the other run,
        if a live one writes any of them) and cleans up after runs that hold no lease any more.
        The plan runs once. Each staged day is then cut into the dataset's file count if the
        table is sized (from its staged files, never the plan again) and marked _SUCCESS.
        Readers see none of it until `StagedWrite.publish`; on leaving the block, whatever was
        not published is removed, a day caught mid-swap gets its previous output back, and the
        leases are released.
        """
        table = self.table(name)
        if table.spec.is_source:
            raise ValueError(f"{name} is a source table of this project; it is never written")
        folders = self.protocol(table)
        with folders.writing(run_id, [day_folder(d) for d in days]) as leases:
            staging = folders.staging(run_id)
            bytes_per_record = table.bytes_per_record() if table.spec.sized else None
            bucketed = table.spec.bucketed and CLIENT_ID in frame.columns
            if bucketed:
                bucketing.write(self.spark, frame, staging.uri)
            else:
                frame.write.mode("overwrite").partitionBy(DAY).parquet(staging.uri)
            # Hidden names (Spark's emptied `_temporary`, still listed on some S3 servers)
            # are not days, as Spark's own readers skip them.
            found = {f for f in staging.subfolders() if not f.startswith(("_", "."))}
            unexpected = found - {day_folder(d) for d in days}
            if unexpected:
                raise RuntimeError(
                    f"table {name}: the frame holds days outside this run ({sorted(unexpected)}); "
                    f"run days were {list(days)}. Nothing was replaced."
                )
            data_schema = frame.drop(DAY).schema
            layout = bucketing.Layout.of(frame) if bucketed else None
            for day in days:
                staged = staging.join(day_folder(day))
                if not staged.exists():
                    # A day with no rows still gets a folder with a schema-only file, so that
                    # readers of the day find an empty table rather than a missing one (and
                    # read it plain: that file is in no bucket).
                    local_frame(self.spark, [], data_schema).write.parquet(staged.uri)
                elif layout is not None:
                    staged.write_bytes(bucketing.RECORD, layout.to_bytes())
                if bytes_per_record is not None:
                    self._resize(staged, bytes_per_record)
                staged.touch(MARKER)
            yield StagedWrite(self.spark, table, folders, leases, list(days), run_id)

    def write(
        self, name: str, days: Sequence[str], frame: DataFrame, run_id: str
    ) -> list[DayWrite]:
        """Stage the run's days of a table and publish every one: each replaces that day's
        folder as a whole; other days are never touched."""
        with self.stage(name, days, frame, run_id) as staged:
            return [staged.publish(day) for day in days]

    def _resize(self, staged: Location, bytes_per_record: float) -> None:
        data = staged.data_files()
        wanted = sizing.file_count(staged.count_rows(data), bytes_per_record, self.target_file_mb)
        if len(data) == wanted:
            return
        # Fewer files: their row groups copied into fewer files as bytes, no Spark job.
        if wanted < len(data) and parquet_merge.merge(self.spark, staged, data, wanted):
            return
        resized = staged.sibling(staged.name + "_resized")
        frame = self.spark.read.parquet(staged.uri)
        # Without a JVM (Spark Connect), fewer files: whole files merged by one task, no
        # shuffle; more: a shuffle must split them.
        recut = frame.coalesce(wanted) if wanted < len(data) else frame.repartition(wanted)
        recut.write.parquet(resized.uri)
        staged.delete()
        resized.move_to(staged)

    def recover(self, name: str, recoverer: str) -> list[str]:
        """Clean up after the writers of a table that hold no live lease any more (killed,
        machine lost, stalled past their lease): each day they left half-swapped gets its
        previous output back, their staging goes. Returns the run ids cleaned up."""
        return self.protocol(self.table(name)).recover(recoverer)


class StagedWrite:
    """A run's days of one table, written and sized but not yet visible to readers."""

    def __init__(
        self,
        spark: SparkSession,
        table: Table,
        folders: DayFolders,
        leases: DayLeases,
        days: list[str],
        run_id: str,
    ) -> None:
        self.spark, self.table, self.folders, self.leases = spark, table, folders, leases
        self.days, self.run_id = days, run_id
        self.staging = folders.staging(run_id)

    def read(self) -> DataFrame:
        """The staged days as one frame, the day as a string column (what an audit reads)."""
        frame = self.spark.read.option("basePath", self.staging.uri).parquet(
            *(self.staging.join(day_folder(d)).uri for d in self.days)
        )
        return frame.withColumn(DAY, F.col(DAY).cast("string"))

    def rows(self, day: str) -> int:
        """A staged day's rows, from its footers."""
        return self.staging.join(day_folder(day)).count_rows()

    def publish(self, day: str) -> DayWrite:
        """Swap the staged day into place; a run that lost its leases publishes nothing
        (docs/storage.md)."""
        final = self.folders.swap_in(self.leases, day_folder(day))
        data = final.data_files()
        return DayWrite(
            day=day,
            rows=final.count_rows(data),
            files=len(data),
            bytes=sum(i.size or 0 for i in data),
            uri=final.uri,
        )
