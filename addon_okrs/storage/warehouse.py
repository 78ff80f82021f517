"""Where each day of each table lives, without Spark or Dagster: the catalog's tables placed
under the three roots (`Warehouse`), and a placed table's days, row counts and sizes read from
the folders and the parquet footers (`Table`)."""

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from addon_okrs.dataset import sizing
from addon_okrs.storage import catalog
from addon_okrs.storage.catalog import ReportSpec, Root, TableSpec, day_folder, day_of_folder
from addon_okrs.storage.day_swap import DayFolders
from addon_okrs.storage.leases import DEFAULT_LEASE_SECONDS, lease_folder
from addon_okrs.storage.locations import Location, S3Options, check_access

ROOT_SETTINGS = {
    Root.SOURCE: "ADDON_OKRS_SOURCE_ROOT",
    Root.OUTPUT: "ADDON_OKRS_OUTPUT_ROOT",
    Root.INTERMEDIATE: "ADDON_OKRS_INTERMEDIATE_ROOT",
}


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
        # The roots arrive normalised: Settings does it, naming the variable; a test or tool
        # that builds a Warehouse by hand passes file or S3 URIs as normalise_root gives them.
        self.s3 = s3 or S3Options()
        self.roots = {
            Root.SOURCE: Location.from_uri(source_root, s3),
            Root.OUTPUT: Location.from_uri(output_root, s3),
            Root.INTERMEDIATE: Location.from_uri(intermediate_root, s3),
        }
        self._access_checked = False

    def check_access(self) -> None:
        """Each S3 root's bucket exists and answers to the credentials (once per warehouse);
        a StorageAccessError naming the root's setting otherwise."""
        if self._access_checked:
            return
        for root, setting in ROOT_SETTINGS.items():
            check_access(self.roots[root].uri, setting, self.s3)
        self._access_checked = True

    def table(self, name: str) -> Table:
        spec = catalog.table(name)
        return Table(spec, self.roots[spec.root].join(spec.path))

    def report_day(self, spec: ReportSpec, day: str) -> Location:
        """The folder of one day of a report."""
        return self.roots[spec.root].join(spec.day_path(day))

    def report(self, spec: ReportSpec) -> Location:
        """The folder of a report's day folders."""
        return self.roots[spec.root].join(spec.path)

    def day_folders(
        self, location: Location, what: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> DayFolders:
        """The write protocol of the day folders at `location` (a table, or the report)."""
        return DayFolders(location, lease_folder(location, self.s3), what, lease_seconds)

    def written(self, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[DayFolders]:
        """The write protocol of everything this project writes: each table that is not a
        source, and the report."""
        tables = [
            self.day_folders(self.table(spec.name).location, f"table {spec.name}", lease_seconds)
            for spec in catalog.TABLES.values()
            if not spec.is_source
        ]
        report = catalog.ADDON_OKR_REPORT
        return [
            *tables,
            self.day_folders(self.report(report), f"report {report.name}", lease_seconds),
        ]
