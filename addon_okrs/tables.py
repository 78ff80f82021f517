"""The tables of the graph on storage, without Dagster: where each day of a table lives
(`Warehouse`, from the catalog and the roots), and reading and writing days with Spark
(`TableStore`), each day written with an all-or-nothing replace (docs/storage.md). Knows
nothing about the business rules."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from addon_okrs import catalog, sizing
from addon_okrs.catalog import ReportSpec, Root, TableSpec, day_folder, day_of_folder
from addon_okrs.contracts import check_source_files, read_schema
from addon_okrs.schema import DAY, SOURCE_CONTRACTS
from addon_okrs.settings import Settings
from addon_okrs.storage import MARKER, Location, S3Options, is_data_file, normalise_root

STAGING = "_staging"  # leading underscore: Spark's partition discovery ignores these folders
TRASH = "_replaced"


class SourceDayError(RuntimeError):
    """A source day that cannot be built from: missing, not ready, unreadable or off-contract.
    Retrying does not help; the message says what to fix."""


class MissingSourceDayError(SourceDayError):
    pass


class SourceNotReadyError(SourceDayError):
    pass


class CorruptSourceFileError(SourceDayError):
    pass


class EmptySourceDayError(SourceDayError):
    pass


@dataclass(frozen=True)
class DayWrite:
    """What one day of a write produced, for the run's metadata."""

    day: str
    rows: int
    files: int
    bytes: int
    uri: str


@dataclass(frozen=True)
class Table:
    """A catalog table placed under its root: `<root>/<path>/submission_date_s3=D/`."""

    spec: TableSpec
    location: Location

    @property
    def name(self) -> str:
        return self.spec.name

    def day(self, day: str) -> Location:
        return self.location.join(day_folder(day))

    def written_days(self) -> list[str]:
        days = (day_of_folder(name) for name in self.location.subfolders())
        return sorted(d for d in days if d is not None)

    def read_day(self, day: str) -> pa.Table | None:
        """A written day's rows through pyarrow (no Spark; for small tables), or None when the
        day was never written."""
        folder = self.day(day)
        if not folder.exists():
            return None
        files = folder.data_files()
        # The day is the folder: no hive partition column inferred from the path.
        return pq.ParquetDataset(
            [f.path for f in files], filesystem=folder.fs, partitioning=None
        ).read()

    def row_count(self, day: str) -> int:
        """Rows of a written day, from the parquet footers only: no data is read."""
        return self.day(day).count_rows()

    def bytes_per_record(self) -> float:
        """From the most recent day already written; the fallback estimate before the first."""
        days = self.written_days()
        if not days:
            return sizing.FALLBACK_BYTES_PER_RECORD
        latest = self.day(max(days))
        data = latest.data_files()
        return sizing.bytes_per_record(sum(i.size or 0 for i in data), latest.count_rows(data))


class Warehouse:
    """The three roots, and each catalog table placed under its own. No Spark, no Dagster."""

    def __init__(
        self,
        source_root: str,
        output_root: str,
        intermediate_root: str,
        s3: S3Options | None = None,
    ) -> None:
        self.roots = {
            Root.SOURCE: Location.from_uri(normalise_root(source_root, "source_root"), s3),
            Root.OUTPUT: Location.from_uri(normalise_root(output_root, "output_root"), s3),
            Root.INTERMEDIATE: Location.from_uri(
                normalise_root(intermediate_root, "intermediate_root"), s3
            ),
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> "Warehouse":
        """The warehouse of these settings' roots and S3 options."""
        return cls(
            settings.source_root,
            settings.output_root,
            settings.intermediate_root,
            S3Options(settings.s3_endpoint_url, settings.s3_region),
        )

    def table(self, name: str) -> Table:
        spec = catalog.table(name)
        return Table(spec, self.roots[spec.root].join(spec.path))

    def report_day(self, spec: ReportSpec, day: str) -> Location:
        """The folder of one day of a report."""
        return self.roots[spec.root].join(spec.day_path(day))

    def publish_report(
        self, spec: ReportSpec, day: str, files: dict[str, bytes], run_id: str
    ) -> str:
        """Write a day's report files next to the report, then swap the folder into place;
        returns the day folder's URI."""
        staged = self.roots[spec.root].join(spec.path, STAGING, run_id, day)
        staged.delete()
        for name, data in files.items():
            staged.write_bytes(name, data)
        final = self.report_day(spec, day)
        final.delete()
        staged.move_to(final)
        staged.parent().delete_if_empty()
        staged.parent().parent().delete_if_empty()
        return final.uri


class TableStore:
    """Reads and writes days of the warehouse's tables with one Spark session."""

    def __init__(
        self,
        spark: SparkSession,
        warehouse: Warehouse,
        target_file_mb: float = 280,
        min_success_markers: int = 1,
        allow_unready_sources: bool = False,
    ) -> None:
        self.spark = spark
        self.warehouse = warehouse
        self.target_file_mb = target_file_mb
        self.min_success_markers = min_success_markers
        self.allow_unready_sources = allow_unready_sources

    def table(self, name: str) -> Table:
        return self.warehouse.table(name)

    def read(self, name: str, days: Sequence[str]) -> DataFrame:
        """The given days of a table in one scan, the day as a string column.

        A source day is checked first (ready, every footer readable, the contract's columns
        there with their types) and then read with the contract's schema: only the columns the
        job uses, and no schema inference over its files. Our own tables merge their schemas.
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
        reader = self.spark.read.option("basePath", table.location.uri)
        source_schema = read_schema(SOURCE_CONTRACTS[name]) if table.spec.is_source else None
        if source_schema is not None:
            for day, folder in zip(days, folders, strict=True):
                footers = self._check_source_day(name, day, folder)
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
        return frame.withColumn(DAY, F.col(DAY).cast("string"))

    def _check_source_day(self, name: str, day: str, folder: Location) -> dict[str, pa.Schema]:
        """Ready (enough _SUCCESS markers) and every file's footer readable, before Spark.
        Returns each data file's schema, by URI."""
        files = folder.files()
        markers = sum(1 for f in files if f.base_name == MARKER)
        if markers < self.min_success_markers and not self.allow_unready_sources:
            raise SourceNotReadyError(
                f"table {name}, day {day}: not ready, {markers} _SUCCESS marker(s) under "
                f"{folder.uri}, {self.min_success_markers} needed. Upstream may still be "
                "writing it; wait for the arrival sensor, or set "
                "ADDON_OKRS_ALLOW_UNREADY_SOURCES=true to build it as it is."
            )
        data_files = list(filter(is_data_file, files))
        if not data_files:
            raise EmptySourceDayError(
                f"table {name}, day {day}: no data files under {folder.uri} (only "
                f"{len(files)} marker or hidden file(s)). Upstream wrote an empty day; rewrite "
                "it upstream, then run the day again."
            )
        footers: dict[str, pa.Schema] = {}
        for info in data_files:
            uri = f"{folder.uri}{info.path[len(folder.path) :]}"
            try:
                footers[uri] = pq.read_metadata(
                    info.path, filesystem=folder.fs
                ).schema.to_arrow_schema()
            except Exception as error:
                raise CorruptSourceFileError(
                    f"table {name}, day {day}: {uri} is not a readable parquet file ({error}). "
                    "Rewrite or remove it upstream, then run the day again."
                ) from error
        return footers

    @contextmanager
    def stage(
        self, name: str, days: Sequence[str], frame: DataFrame, run_id: str
    ) -> Iterator["StagedWrite"]:
        """Write the run's days of a table into a staging folder next to it, ready to publish.

        The plan runs once. Each staged day is then cut into the dataset's file count if the
        table is sized (from its staged files, never the plan again) and marked _SUCCESS.
        Readers see none of it until `StagedWrite.publish`; on leaving the block, whatever was
        not published is removed and a day caught mid-swap gets its previous output back.
        """
        table = self.table(name)
        if table.spec.is_source:
            raise ValueError(f"{name} is a source table of this project; it is never written")
        self.recover_interrupted_writes(table)
        staging = table.location.join(STAGING, run_id)
        bytes_per_record = table.bytes_per_record() if table.spec.sized else None
        try:
            frame.write.mode("overwrite").partitionBy(DAY).parquet(staging.uri)
            unexpected = set(staging.subfolders()) - {day_folder(d) for d in days}
            if unexpected:
                raise RuntimeError(
                    f"table {name}: the frame holds days outside this run ({sorted(unexpected)}); "
                    f"run days were {list(days)}. Nothing was replaced."
                )
            data_schema = frame.drop(DAY).schema
            for day in days:
                staged = staging.join(day_folder(day))
                if not staged.exists():
                    # A day with no rows still gets a folder with a schema-only file, so that
                    # readers of the day find an empty table rather than a missing one.
                    self.spark.createDataFrame([], data_schema).write.parquet(staged.uri)
                if bytes_per_record is not None:
                    self._resize(staged, bytes_per_record)
                staged.touch(MARKER)
            yield StagedWrite(self, table, staging, list(days), run_id)
        finally:
            self._clean_up(table, run_id)

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
        resized = staged.sibling(staged.name + "_resized")
        frame = self.spark.read.parquet(staged.uri)
        # Fewer files: merge whole files in one pass, no shuffle; more: a shuffle must split them.
        recut = frame.coalesce(wanted) if wanted < len(data) else frame.repartition(wanted)
        recut.write.parquet(resized.uri)
        staged.delete()
        resized.move_to(staged)

    def recover_interrupted_writes(self, table: Table) -> list[str]:
        """Clean up after writers that died (killed, machine lost): put back any day they had
        moved aside, drop their staging. Safe because one run writes a table at a time (the
        run queue's limit). Returns the run ids cleaned up."""
        runs = sorted(
            set(table.location.join(STAGING).subfolders())
            | set(table.location.join(TRASH).subfolders())
        )
        for run_id in runs:
            self._clean_up(table, run_id)
        return runs

    def _clean_up(self, table: Table, run_id: str) -> None:
        """Remove a run's staging and replaced folders; a day caught in its swap (old moved
        aside, new not wholly in place) gets its previous output back."""
        staging = table.location.join(STAGING, run_id)
        replaced = table.location.join(TRASH, run_id)
        for folder in replaced.subfolders():
            final = table.location.join(folder)
            # The new day is in place only if its staged copy is gone: on an object store a
            # move is copy + delete, so a final folder that exists may still be partial.
            if not final.exists() or staging.join(folder).exists():
                final.delete()
                replaced.join(folder).move_to(final)
        for leftover in (staging, replaced):
            leftover.delete()
            leftover.parent().delete_if_empty()

    def _replace_day(self, table: Table, staging: Location, day: str, run_id: str) -> DayWrite:
        staged = staging.join(day_folder(day))
        final = table.day(day)
        replaced = table.location.join(TRASH, run_id, day_folder(day))
        if final.exists():
            final.move_to(replaced)
        staged.move_to(final)
        data = final.data_files()
        return DayWrite(
            day=day,
            rows=final.count_rows(data),
            files=len(data),
            bytes=sum(i.size or 0 for i in data),
            uri=final.uri,
        )


class StagedWrite:
    """A run's days of one table, written and sized but not yet visible to readers."""

    def __init__(
        self, store: TableStore, table: Table, staging: Location, days: list[str], run_id: str
    ) -> None:
        self.store, self.table, self.staging = store, table, staging
        self.days, self.run_id = days, run_id

    def read(self) -> DataFrame:
        """The staged days as one frame, the day as a string column (what an audit reads)."""
        frame = self.store.spark.read.option("basePath", self.staging.uri).parquet(
            *(self.staging.join(day_folder(d)).uri for d in self.days)
        )
        return frame.withColumn(DAY, F.col(DAY).cast("string"))

    def rows(self, day: str) -> int:
        """A staged day's rows, from its footers."""
        return self.staging.join(day_folder(day)).count_rows()

    def publish(self, day: str) -> DayWrite:
        """Swap the staged day into place (docs/storage.md)."""
        return self.store._replace_day(self.table, self.staging, day, self.run_id)
