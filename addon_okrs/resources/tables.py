"""The table store as a Dagster resource: the run's Spark session over the warehouse, with the
read and write settings. The IO manager reads and writes through it; addon_aggregates stages,
audits and publishes through it."""

import dagster as dg
from pydantic import Field, PrivateAttr

from addon_okrs.resources.spark import SparkResource
from addon_okrs.resources.warehouse import WarehouseResource
from addon_okrs.tables import TableStore


class TableStoreResource(dg.ConfigurableResource):
    spark: dg.ResourceDependency[SparkResource]
    warehouse: dg.ResourceDependency[WarehouseResource]
    target_file_mb: float = Field(default=280, description="the size each output file aims at")
    min_success_markers: int = Field(
        default=1, description="_SUCCESS files a source day needs before it is read"
    )
    allow_unready_sources: bool = Field(
        default=False, description="read a source day even without its _SUCCESS markers"
    )

    _store: TableStore | None = PrivateAttr(default=None)

    def get(self) -> TableStore:
        if self._store is None:
            self._store = TableStore(
                self.spark.get_session(),
                self.warehouse.get(),
                target_file_mb=self.target_file_mb,
                min_success_markers=self.min_success_markers,
                allow_unready_sources=self.allow_unready_sources,
            )
        return self._store
