"""Dagster's face of the table store: asset key -> catalog table, partition keys -> days,
and each write's metadata. Storage itself is tables.TableStore."""

import time
from collections.abc import Sequence
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame

from addon_okrs.contracts import SourceSchemaError
from addon_okrs.resources.tables import TableStoreResource
from addon_okrs.tables import DayWrite, SourceDayError, Table


def write_metadata(table: Table, written: Sequence[DayWrite]) -> dict[str, Any]:
    """Materialization metadata: for a range run the totals, plus a per-day breakdown."""
    metadata: dict[str, Any] = {
        "dagster/row_count": sum(w.rows for w in written),
        "path": dg.MetadataValue.path(table.location.uri if len(written) > 1 else written[0].uri),
        "file_count": sum(w.files for w in written),
        "bytes": sum(w.bytes for w in written),
    }
    if len(written) > 1:
        metadata["days"] = dg.MetadataValue.json(
            {w.day: {"rows": w.rows, "files": w.files, "bytes": w.bytes} for w in written}
        )
    return metadata


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
        context.add_output_metadata(write_metadata(store.table(name), written))
