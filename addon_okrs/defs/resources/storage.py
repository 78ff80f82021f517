"""The storage layer's objects as Dagster resources: the warehouse (the three roots and how to
reach S3), the table store over the run's Spark session, and the OKR report's store. Each holds
its settings as fields, which the UI shows, and builds its storage object once per process."""

import dagster as dg
from pydantic import Field, PrivateAttr

from addon_okrs.dataset import report
from addon_okrs.defs.resources.spark import SparkResource
from addon_okrs.settings import Settings
from addon_okrs.storage.leases import DEFAULT_LEASE_SECONDS
from addon_okrs.storage.locations import S3Options
from addon_okrs.storage.report_store import ReportStore
from addon_okrs.storage.table_store import TableStore
from addon_okrs.storage.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Where the tables of the catalog live (settings: the three roots, the S3 endpoint)."""

    source_root: str = Field(description="where addons/v2 and main_summary/v4 are")
    output_root: str = Field(description="where the published tables are written")
    intermediate_root: str = Field(description="where the intermediate assets are kept")
    s3_endpoint_url: str | None = Field(default=None, description="an S3-compatible endpoint")
    s3_region: str | None = None

    _warehouse: Warehouse | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> "WarehouseResource":
        return cls(
            source_root=settings.source_root,
            output_root=settings.output_root,
            intermediate_root=settings.intermediate_root,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
        )

    def get(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(
                self.source_root,
                self.output_root,
                self.intermediate_root,
                S3Options(self.s3_endpoint_url, self.s3_region),
            )
        return self._warehouse


class TableStoreResource(dg.ConfigurableResource):
    """The table store: the run's Spark session over the warehouse, with the read and write
    settings. The IO manager reads and writes through it; addon_aggregates stages, audits and
    publishes through it."""

    spark: dg.ResourceDependency[SparkResource]
    warehouse: dg.ResourceDependency[WarehouseResource]
    target_file_mb: float = Field(description="the size each output file aims at")
    min_success_markers: int = Field(description="_SUCCESS files a source day needs to be read")
    allow_unready_sources: bool = Field(
        description="read a source day even without its _SUCCESS markers"
    )
    lease_seconds: float = Field(
        default=DEFAULT_LEASE_SECONDS, description="how long a writer's lease on a day lasts"
    )

    _store: TableStore | None = PrivateAttr(default=None)

    def get(self) -> TableStore:
        if self._store is None:
            self.warehouse.get().check_access()  # before Spark starts, or anything is written
            self._store = TableStore(
                self.spark.get_session(),
                self.warehouse.get(),
                target_file_mb=self.target_file_mb,
                min_success_markers=self.min_success_markers,
                allow_unready_sources=self.allow_unready_sources,
                lease_seconds=self.lease_seconds,
            )
        return self._store

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        # The tables the store declared to read bucketed days: a Spark Connect server's
        # catalog outlives the run. Files are never touched, so a failure here loses nothing.
        if self._store is not None:
            try:
                self._store.close()
            except Exception as error:  # the session may be gone with the run's end
                if context.log is not None:
                    context.log.warning(f"could not drop the run's read tables: {error}")


class ReportStoreResource(dg.ConfigurableResource):
    """The OKR report's store, and the days whose mean is each OKR's baseline (settings:
    ADDON_OKRS_OKR_BASELINE; unset, the report's default)."""

    warehouse: dg.ResourceDependency[WarehouseResource]
    baseline_first_day: str | None = None
    baseline_last_day: str | None = None
    lease_seconds: float = Field(
        default=DEFAULT_LEASE_SECONDS, description="how long a writer's lease on a day lasts"
    )

    def get(self) -> ReportStore:
        self.warehouse.get().check_access()
        return ReportStore(self.warehouse.get(), self.lease_seconds)

    def build(self, as_of: str) -> report.Report:
        """The report as of a day, from the addons/okr/v1 days of its window that exist."""
        days = self.get().okr_days(report.window(as_of))
        return report.build_report(as_of, days.all_rows, days.latest_channels, self.baseline)

    def publish(self, as_of: str, files: dict[str, bytes], run_id: str) -> str:
        """Replace the day's report folder with `files`; the folder's URI."""
        return self.get().publish(as_of, files, run_id)

    @property
    def baseline(self) -> tuple[str, str] | None:
        if self.baseline_first_day and self.baseline_last_day:
            return self.baseline_first_day, self.baseline_last_day
        return None
