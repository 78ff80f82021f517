"""Dagster's face of the table store: asset key -> catalog table, partition keys -> days,
and each write's metadata. Storage itself is storage/table_store.py."""

import time
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame

from addon_okrs.defs._dagster_compat import add_partition_metadata
from addon_okrs.defs.failures import failing_at_once
from addon_okrs.defs.resources.storage import TableStoreResource
from addon_okrs.storage.table_store import DayWrite


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
        with failing_at_once():  # a missing upstream day
            return self.tables.get().read(name, context.asset_partition_keys)

    def handle_output(self, context: dg.OutputContext, obj: DataFrame) -> None:
        name = context.asset_key.path[-1]
        days = context.asset_partition_keys
        started = time.monotonic()
        with failing_at_once():  # a day another live run is writing
            written = self.tables.get().write(name, days, obj, run_id=context.run_id)
        context.log.info(
            f"{name}: wrote {len(written)} day(s) in {time.monotonic() - started:.1f}s: "
            + ", ".join(f"{w.day} {w.rows} rows / {w.files} files" for w in written)
        )
        # Each day's materialization gets its own numbers, in a range run too.
        for write in written:
            add_partition_metadata(context, day_metadata(write), write.day)
