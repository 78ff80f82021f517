"""Shared test helpers: reading written days back, and observing what Spark executed."""

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
from pyspark.sql import SparkSession


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
    """Every check evaluation in the instance's event log, by day ("none" when it has no
    partition) and check: whether each passed."""
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    )
    found: dict[str, dict[str, list[bool]]] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        assert event is not None
        evaluation = event.asset_check_evaluation_data
        day = evaluation.partition or "none"
        found.setdefault(day, {}).setdefault(evaluation.check_name, []).append(evaluation.passed)
    return found
