"""Upstream `_SUCCESS` markers in S3, listed through dagster-aws. A module of its own so that
only a code location with an S3 source root imports boto3 and dagster-aws (about 2 s of every
process's start-up otherwise: each run, each code server)."""

from typing import Any
from urllib.parse import urlparse

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from addon_okrs.defs.resources.arrivals import ArrivalStore, ArrivalStoreError, DayMarkers
from addon_okrs.storage.catalog import TableSpec
from addon_okrs.storage.locations import MARKER


class S3ArrivalStore(ArrivalStore):
    """Markers in S3 (or any S3-compatible server: set the S3 resource's endpoint_url)."""

    s3: dg.ResourceDependency[S3Resource]

    _client: Any = PrivateAttr(default=None)

    def _s3_client(self) -> Any:
        # One client per resource: building a boto3 client costs more than a listing page.
        if self._client is None:
            self._client = self.s3.get_client()
        return self._client

    def day_markers(self, table: TableSpec, day: str) -> DayMarkers:
        parsed = urlparse(self.root)
        bucket, base = parsed.netloc, parsed.path.strip("/")
        prefix = "/".join(p for p in (base, table.day_path(day)) if p) + "/"
        location = f"s3://{bucket}/{prefix}"
        times: list[float] = []
        data_files = data_bytes = 0
        try:
            pages = self._s3_client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    base_name = obj["Key"].rsplit("/", 1)[-1]
                    if base_name == MARKER:
                        times.append(obj["LastModified"].timestamp())
                    elif base_name and not base_name.startswith(("_", ".")):
                        data_files += 1
                        data_bytes += obj.get("Size", 0)
        except Exception as error:  # botocore raises several unrelated types; all mean "can't list"
            raise ArrivalStoreError(f"cannot list {location}: {error}") from error
        return DayMarkers(
            table.path,
            day,
            location,
            len(times),
            max(times, default=0.0),
            data_files=data_files,
            bytes=data_bytes,
        )
