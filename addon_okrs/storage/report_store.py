"""The OKR report's storage, without Spark or Dagster: the `all` row and the channel rows of
the addons/okr/v1 days a report shows (pyarrow: a few rows a day), and a day's report folder
written next to the report and swapped into place by the tables' write protocol."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from addon_okrs.dataset.schema import ALL_CHANNELS
from addon_okrs.storage.catalog import ADDON_OKR_METRICS, ADDON_OKR_REPORT
from addon_okrs.storage.leases import DEFAULT_LEASE_SECONDS
from addon_okrs.storage.warehouse import Warehouse


@dataclass(frozen=True)
class OkrDays:
    """What the report reads of addons/okr/v1: each day's `all` row, by day, and the channel
    rows of the latest day with data."""

    all_rows: dict[str, dict[str, Any]]
    latest_channels: list[dict[str, Any]]


class ReportStore:
    def __init__(self, warehouse: Warehouse, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.warehouse, self.lease_seconds = warehouse, lease_seconds

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
        """Write a day's report files next to the report and swap the folder into place, by
        the same protocol as every table (day_swap.py): the day's lease first, a dead
        writer's leftovers recovered, the previous folder back if the swap is interrupted.
        Returns the day folder's URI."""
        spec = ADDON_OKR_REPORT
        location = self.warehouse.report(spec)
        folders = self.warehouse.day_folders(location, f"report {spec.name}", self.lease_seconds)
        with folders.writing(run_id, [day]) as leases:
            staged = folders.staging(run_id).join(day)
            staged.delete()
            for name, data in files.items():
                staged.write_bytes(name, data)
            return folders.swap_in(leases, day).uri
