"""One way to build a day or a range of days in one run, in this process: what the CLI, the
tests and the tools call. The run is recorded in DAGSTER_HOME when that is set."""

import contextlib
import threading
from collections.abc import Mapping
from typing import Any

import dagster as dg

from addon_okrs.defs._dagster_compat import range_tags
from addon_okrs.defs.code_location import build_resources, graph_assets
from addon_okrs.defs.resources.spark import spark_resource
from addon_okrs.settings import Settings

# Every built asset: everything upstream of the report, the last one.
EVERYTHING = "*addon_okr_report"


def materialize_days(
    settings: Settings,
    first: str,
    last: str | None = None,
    *,
    selection: str = EVERYTHING,
    run_config: Mapping[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Every selected asset (and its checks) for first..last in one run. Failures are returned
    in the result, not raised."""
    if instance is None:
        instance = (
            dg.DagsterInstance.get() if settings.dagster_home else dg.DagsterInstance.ephemeral()
        )
    days: dict[str, Any] = (
        {"partition_key": first}
        if last is None or last == first
        else {"tags": range_tags(first, last)}
    )
    return dg.materialize(
        graph_assets(settings),
        selection=selection,
        resources=build_resources(settings),
        instance=instance,
        run_config=dict(run_config or {}),
        raise_on_error=False,
        **days,
    )


def start_spark_early(settings: Settings) -> threading.Thread | None:
    """A local run's Spark session started on a thread, so that its JVM starts (4-5 s) while
    this process does other work first (generating days, building the definitions); the run's
    resource then finds the session running. Join the thread before the run. Nothing is started
    for a cluster or a Connect server, nor when the S3 connector is missing or still to fetch;
    a session that fails to start here is started again by the run, which reports why."""
    spark = spark_resource(settings)
    if not spark.is_local or spark.connector_error or spark.fetch_jars_into:
        return None

    def start() -> None:
        with contextlib.suppress(Exception):  # the run starts it again and reports the failure
            spark.get_session()

    thread = threading.Thread(target=start, name="spark-start", daemon=True)
    thread.start()
    return thread
