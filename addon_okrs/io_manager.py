"""Dagster's face of the table store: asset key -> catalog table, partition keys -> days,
and each write's metadata. Storage itself is tables.TableStore."""

import time
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame

from addon_okrs.contracts import SourceSchemaError
from addon_okrs.resources.tables import TableStoreResource
from addon_okrs.tables import DayWrite, SourceDayError


def day_metadata(write: DayWrite) -> dict[str, Any]:
    """One written day's materialization metadata."""
    return {
        "dagster/row_count": write.rows,
        "path": dg.MetadataValue.path(write.uri),
        "file_count": write.files,
        "bytes": write.bytes,
    }


class ParquetIOManager(dg.ConfigurableIOManager):
    """Reads an asset's input days and writes its output days through one TableStore."""

    tables: dg.ResourceDependency[TableStoreResource]

    def load_input(self, context: dg.InputContext) -> DataFrame:
        name = context.asset_key.path[-1]
        try:
            return self.tables.get().read(name, context.asset_partition_keys)
        except (SourceDayError, SourceSchemaError) as error:
            # Retrying cannot make an upstream day appear; the sensor starts the run once it has.
            raise dg.Failure(description=str(error), allow_retries=False) from error

    def handle_output(self, context: dg.OutputContext, obj: DataFrame) -> None:
        name = context.asset_key.path[-1]
        days = context.asset_partition_keys
        started = time.monotonic()
        store = self.tables.get()
        written = store.write(name, days, obj, run_id=context.run_id)
        context.log.info(
            f"{name}: wrote {len(written)} day(s) in {time.monotonic() - started:.1f}s: "
            + ", ".join(f"{w.day} {w.rows} rows / {w.files} files" for w in written)
        )
        # Each day's materialization gets its own numbers, in a range run too.
        for write in written:
            context.step_context.add_asset_metadata(
                day_metadata(write), asset_key=context.asset_key, partition_key=write.day
            )
