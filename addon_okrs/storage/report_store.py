"""The OKR report's storage, without Spark or Dagster: the `all` row and the channel rows of
the addons/okr/v1 days a report shows (pyarrow: a few rows a day), and a day's report folder
written next to the report and swapped into place."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from addon_okrs.dataset.schema import ALL_CHANNELS
from addon_okrs.storage.catalog import ADDON_OKR_METRICS, ADDON_OKR_REPORT
from addon_okrs.storage.table_store import STAGING
from addon_okrs.storage.warehouse import Warehouse


@dataclass(frozen=True)
class OkrDays:
    """What the report reads of addons/okr/v1: each day's `all` row, by day, and the channel
    rows of the latest day with data."""

    all_rows: dict[str, dict[str, Any]]
    latest_channels: list[dict[str, Any]]


class ReportStore:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def okr_days(self, days: Iterable[str]) -> OkrDays:
        """The addons/okr/v1 rows of those of `days` that were written (oldest first)."""
        table = self.warehouse.table(ADDON_OKR_METRICS.name)
        all_rows: dict[str, dict[str, Any]] = {}
        latest: list[dict[str, Any]] = []
        for day in days:
            rows = table.read_day(day)
            if rows is None or rows.num_rows == 0:
                continue
            records = rows.to_pylist()
            all_rows[day] = next(r for r in records if r["normalized_channel"] == ALL_CHANNELS)
            latest = records
        return OkrDays(all_rows, latest)

    def day_uri(self, day: str) -> str:
        """Where a day's report folder is."""
        return self.warehouse.report_day(ADDON_OKR_REPORT, day).uri

    def publish(self, day: str, files: dict[str, bytes], run_id: str) -> str:
        """Write a day's report files next to the report, then swap the folder into place;
        returns the day folder's URI."""
        spec = ADDON_OKR_REPORT
        staged = self.warehouse.roots[spec.root].join(spec.path, STAGING, run_id, day)
        staged.delete()
        for name, data in files.items():
            staged.write_bytes(name, data)
        final = self.warehouse.report_day(spec, day)
        final.delete()
        staged.move_to(final)
        staged.parent().delete_if_empty()
        staged.parent().parent().delete_if_empty()
        return final.uri
