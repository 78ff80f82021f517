"""Shared test helpers: reading written days back, and observing what Spark executed."""

from pathlib import Path

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
