"""The OKR report's storage: reading the days of addons/okr/v1 it shows (pyarrow, no Spark:
the table is a few rows a day) and publishing a day's report folder. The numbers and the
drawing are report.py's."""

import dagster as dg

from addon_okrs import report
from addon_okrs.catalog import ADDON_OKR_METRICS, ADDON_OKR_REPORT
from addon_okrs.resources.warehouse import WarehouseResource
from addon_okrs.schema import ALL_CHANNELS


class OkrReportResource(dg.ConfigurableResource):
    warehouse: dg.ResourceDependency[WarehouseResource]
    baseline_first_day: str | None = None  # settings: ADDON_OKRS_OKR_BASELINE
    baseline_last_day: str | None = None

    def build(self, as_of: str) -> report.Report:
        """The report as of a day, from the addons/okr/v1 days of its window that exist."""
        table = self.warehouse.get().table(ADDON_OKR_METRICS.name)
        all_rows: dict[str, dict[str, object]] = {}
        latest_channels: list[dict[str, object]] = []
        for day in report.window(as_of):
            rows = table.read_day(day)
            if rows is None or rows.num_rows == 0:
                continue
            records = rows.to_pylist()
            all_rows[day] = next(r for r in records if r["normalized_channel"] == ALL_CHANNELS)
            latest_channels = records
        baseline = (
            (self.baseline_first_day, self.baseline_last_day)
            if self.baseline_first_day and self.baseline_last_day
            else None
        )
        return report.build_report(as_of, all_rows, latest_channels, baseline)

    def publish(self, as_of: str, files: dict[str, bytes], run_id: str) -> str:
        """Replace the day's report folder with `files`; the folder's URI."""
        return self.warehouse.get().publish_report(ADDON_OKR_REPORT, as_of, files, run_id)
