"""Where the arrival sensor looks for upstream `_SUCCESS` markers: a local folder or an S3
bucket. Listing only, never Spark, so a sensor tick stays cheap."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from addon_okrs.schema import DAY
from addon_okrs.storage import MARKER, Location, normalise_root


@dataclass(frozen=True)
class DayMarkers:
    """The `_SUCCESS` files found below one table's day folder."""

    table: str
    day: str
    location: str
    count: int
    newest: float  # modification time of the newest marker, seconds since the epoch; 0 if none


class ArrivalStoreError(RuntimeError):
    """Listing failed (missing bucket, refused credentials, unreachable endpoint...)."""


class ArrivalStore(dg.ConfigurableResource):
    """Counts a day's markers under `root`/`table`/submission_date_s3=D/, at any depth."""

    root: str = Field(description="source root URI, where addons/v2 and main_summary/v4 are")
    min_success_markers: int = Field(
        default=1,
        description="markers a day folder needs to count as arrived (100: one per sample_id)",
    )
    lookback_days: int = Field(default=7, description="how many recent days each tick checks")

    def day_markers(self, table: str, day: str) -> DayMarkers:
        raise NotImplementedError

    def _day_prefix(self, table: str, day: str) -> str:
        return f"{table}/{DAY}={day}"


class LocalArrivalStore(ArrivalStore):
    """Markers in a local folder (`file://` root or a plain path)."""

    def day_markers(self, table: str, day: str) -> DayMarkers:
        root = Location.from_uri(normalise_root(self.root, "root"))
        folder = root.join(self._day_prefix(table, day))
        times = [i.mtime.timestamp() for i in folder.files() if i.base_name == MARKER and i.mtime]
        return DayMarkers(table, day, folder.path, len(times), max(times, default=0.0))


class S3ArrivalStore(ArrivalStore):
    """Markers in S3 (or any S3-compatible server: set the S3 resource's endpoint_url)."""

    s3: dg.ResourceDependency[S3Resource]

    _client: Any = PrivateAttr(default=None)

    def _s3_client(self) -> Any:
        # One client per resource: building a boto3 client costs more than a listing page.
        if self._client is None:
            self._client = self.s3.get_client()
        return self._client

    def day_markers(self, table: str, day: str) -> DayMarkers:
        parsed = urlparse(self.root)
        bucket, base = parsed.netloc, parsed.path.strip("/")
        prefix = "/".join(p for p in (base, self._day_prefix(table, day)) if p) + "/"
        location = f"s3://{bucket}/{prefix}"
        times: list[float] = []
        try:
            pages = self._s3_client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=bucket, Prefix=prefix):
                times.extend(
                    obj["LastModified"].timestamp()
                    for obj in page.get("Contents", [])
                    if obj["Key"].rsplit("/", 1)[-1] == MARKER
                )
        except Exception as error:  # botocore raises several unrelated types; all mean "can't list"
            raise ArrivalStoreError(f"cannot list {location}: {error}") from error
        return DayMarkers(table, day, location, len(times), max(times, default=0.0))
