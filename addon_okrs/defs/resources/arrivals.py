"""Where the arrival sensor looks for upstream `_SUCCESS` markers: a local folder here, an S3
bucket in resources/s3_arrivals.py. Listing only, never Spark, so a sensor tick stays cheap."""

from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from addon_okrs.storage.catalog import TableSpec
from addon_okrs.storage.locations import MARKER, Location, is_data_file


@dataclass(frozen=True)
class DayMarkers:
    """The `_SUCCESS` files found below one table's day folder."""

    table: str  # the table's path, as upstream names it: addons/v2
    day: str
    location: str
    count: int
    newest: float  # modification time of the newest marker, seconds since the epoch; 0 if none
    data_files: int = 0  # parquet files (not markers, not hidden) below the day folder
    bytes: int = 0  # their total size


class ArrivalStoreError(RuntimeError):
    """Listing failed (missing bucket, refused credentials, unreachable endpoint...)."""


class ArrivalStore(dg.ConfigurableResource):
    """Counts a day's markers under `root`/`table`/submission_date_s3=D/, at any depth."""

    root: str = Field(description="source root URI, where the source tables are")
    min_success_markers: int = Field(
        default=1,
        description="markers a day folder needs to count as arrived (100: one per sample_id)",
    )
    lookback_days: int = Field(default=7, description="how many recent days each tick checks")

    def day_markers(self, table: TableSpec, day: str) -> DayMarkers:
        raise NotImplementedError


class LocalArrivalStore(ArrivalStore):
    """Markers in a local folder (`file://` root or a plain path)."""

    def day_markers(self, table: TableSpec, day: str) -> DayMarkers:
        root = Location.from_uri(self.root)
        folder = root.join(table.day_path(day))
        files = folder.files()
        times = [i.mtime.timestamp() for i in files if i.base_name == MARKER and i.mtime]
        data = [i for i in files if is_data_file(i)]
        return DayMarkers(
            table.path,
            day,
            folder.path,
            len(times),
            max(times, default=0.0),
            data_files=len(data),
            bytes=sum(i.size or 0 for i in data),
        )
