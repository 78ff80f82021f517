"""Shared test helpers: reading written days back, and observing what Spark executed."""

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from addon_okrs.defs.checks import CHECK_SPECS


def executions_scanning(spark: SparkSession, path: str) -> int:
    """How many SQL executions so far had `path` in their physical plan (classic Spark only)."""
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()  # type: ignore[attr-defined]
    return sum(
        path in executions.apply(i).physicalPlanDescription() for i in range(executions.size())
    )


def file_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def day_rows(table_root: Path, day: str) -> list[tuple[object, ...]]:
    """A written day's rows, sorted, as the dashboard would read its folder."""
    rows = pq.read_table(table_root / f"submission_date_s3={day}").to_pylist()
    return sorted((tuple(r.values()) for r in rows), key=repr)


def check_results_by_day(instance: dg.DagsterInstance) -> dict[str, dict[str, list[bool]]]:
    """Every recorded execution of addon_aggregates' checks, by day ("none" when it has no
    partition) and check: whether each passed."""
    found: dict[str, dict[str, list[bool]]] = {}
    for spec in CHECK_SPECS:
        history = instance.event_log_storage.get_asset_check_execution_history(spec.key, 100)
        for record in history:
            day = record.partition or "none"
            passed = record.status.value == "SUCCEEDED"
            found.setdefault(day, {}).setdefault(spec.name, []).append(passed)
    return found


def launched_step_processes(home: Path) -> list[str]:
    """The steps the only run of the instance at `home` started a process for (its event log:
    the multiprocess executor's workers)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTING)
    return sorted(e.step_key or "" for e in events)
