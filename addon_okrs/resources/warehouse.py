"""The warehouse as a Dagster resource: the three roots and how to reach S3, for whatever needs
to find a table's days outside Spark (the IO manager, the asset checks)."""

import dagster as dg
from pydantic import Field, PrivateAttr

from addon_okrs.storage import S3Options
from addon_okrs.tables import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Where the tables of the catalog live (settings: the three roots, the S3 endpoint)."""

    source_root: str = Field(description="where addons/v2 and main_summary/v4 are")
    output_root: str = Field(description="where the published tables are written")
    intermediate_root: str = Field(description="where the intermediate assets are kept")
    s3_endpoint_url: str | None = Field(default=None, description="an S3-compatible endpoint")
    s3_region: str | None = None

    _warehouse: Warehouse | None = PrivateAttr(default=None)

    def get(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse(
                self.source_root,
                self.output_root,
                self.intermediate_root,
                S3Options(self.s3_endpoint_url, self.s3_region),
            )
        return self._warehouse
