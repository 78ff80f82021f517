"""Spark's own metrics for one application, read from its event log (the EventLoggingListener's
JSON lines): jobs, bytes read per table, shuffle bytes written, bytes spilled, the tasks' run
and garbage-collection time.

Bytes read are the tasks' input metrics, attributed to a table through the SQL plan: a task
belongs to the table whose scan node's metric accumulators it updated.
"""

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDONS, MAIN_SUMMARY

SQL_START = "org.apache.spark.sql.execution.ui.SparkListenerSQLExecutionStart"
SQL_AQE_UPDATE = "org.apache.spark.sql.execution.ui.SparkListenerSQLAdaptiveExecutionUpdate"

# Path fragments that name a table; the first that matches a scan's location wins.
TABLE_MARKERS = [(spec.name, spec.path) for spec in (MAIN_SUMMARY, ADDONS, ADDON_AGGREGATES)]


@dataclass
class SparkMetrics:
    jobs: int = 0
    stages: int = 0
    tasks: int = 0
    shuffle_bytes_written: int = 0
    spill_bytes: int = 0  # memory and disk spill together
    # Summed over tasks. A task's GC time is the JVM's pauses while it ran, so in local mode,
    # where every task shares the driver's JVM, one pause counts once per task running.
    task_ms: int = 0
    gc_ms: int = 0
    bytes_read: Counter[str] = field(default_factory=Counter)

    def read(self, table: str) -> int:
        return self.bytes_read.get(table, 0)


def table_of(location: str) -> str:
    for table, marker in TABLE_MARKERS:
        if marker in location:
            return table
    if "/intermediate/" in location:
        return "intermediate"
    return "other"


def scan_accumulators(plan: dict[str, Any], found: dict[int, str]) -> None:
    """Adds to `found` the accumulator ids of each scan node in a SQL plan, with its table."""
    if plan.get("nodeName", "").startswith("Scan "):
        where = plan.get("metadata", {}).get("Location", "") or plan.get("simpleString", "")
        table = table_of(where)
        for metric in plan.get("metrics", []):
            found[metric["accumulatorId"]] = table
    for child in plan.get("children", []):
        scan_accumulators(child, found)


def events(paths: list[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, event) for every event of the given logs, in order."""
    for path in paths:
        with path.open() as lines:
            for line in lines:
                event = json.loads(line)
                yield event.get("Event", ""), event


def read_event_logs(paths: list[Path]) -> SparkMetrics:
    metrics = SparkMetrics()
    scans: dict[int, str] = {}
    task_ends: list[dict[str, Any]] = []
    for kind, event in events(paths):
        if kind == "SparkListenerJobStart":
            metrics.jobs += 1
        elif kind == "SparkListenerStageCompleted":
            metrics.stages += 1
        elif kind == "SparkListenerTaskEnd":
            task_ends.append(event)
        elif kind in (SQL_START, SQL_AQE_UPDATE):
            scan_accumulators(event.get("sparkPlanInfo", {}), scans)
    for event in task_ends:
        metrics.tasks += 1
        task_metrics = event.get("Task Metrics") or {}
        shuffle = task_metrics.get("Shuffle Write Metrics", {})
        metrics.shuffle_bytes_written += shuffle.get("Shuffle Bytes Written", 0)
        metrics.spill_bytes += task_metrics.get("Memory Bytes Spilled", 0)
        metrics.spill_bytes += task_metrics.get("Disk Bytes Spilled", 0)
        metrics.task_ms += task_metrics.get("Executor Run Time", 0)
        metrics.gc_ms += task_metrics.get("JVM GC Time", 0)
        read = task_metrics.get("Input Metrics", {}).get("Bytes Read", 0)
        if not read:
            continue
        accumulators = {a["ID"] for a in event.get("Task Info", {}).get("Accumulables", [])}
        tables = {scans[a] for a in accumulators if a in scans}
        key = tables.pop() if len(tables) == 1 else ("+".join(sorted(tables)) or "unattributed")
        metrics.bytes_read[key] += read
    return metrics


def event_log_conf(directory: Path) -> dict[str, str]:
    """The Spark settings that make an application log its events as plain JSON lines."""
    return {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": directory.absolute().as_uri(),
        "spark.eventLog.compress": "false",
        "spark.eventLog.rolling.enabled": "false",
    }
