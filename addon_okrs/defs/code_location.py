"""The Dagster code location built from one Settings object: resources, executor, sensor and
every definition. `definitions.py` calls it once with the settings of the environment; tests
and tools call it with their own."""

import dagster as dg

from addon_okrs.defs import graph
from addon_okrs.defs.io_manager import ParquetIOManager
from addon_okrs.defs.jobs import daily_job
from addon_okrs.defs.resources.arrivals import ArrivalStore, LocalArrivalStore
from addon_okrs.defs.resources.spark import spark_resource
from addon_okrs.defs.resources.storage import (
    ReportStoreResource,
    TableStoreResource,
    WarehouseResource,
)
from addon_okrs.defs.schedules import daily_schedule
from addon_okrs.defs.sensors import build_arrival_sensor
from addon_okrs.settings import Settings
from addon_okrs.storage.locations import S3_SCHEMES


def graph_assets(settings: Settings) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    """The two sources and every built asset, backfilling in runs of the configured size."""
    return graph.graph_assets(settings.backfill_days_per_run)


def build_resources(settings: Settings) -> dict[str, object]:
    spark = spark_resource(settings)
    warehouse = WarehouseResource.from_settings(settings)
    tables = TableStoreResource(
        spark=spark,
        warehouse=warehouse,
        target_file_mb=settings.target_file_mb,
        min_success_markers=settings.min_success_markers,
        allow_unready_sources=settings.allow_unready_sources,
        lease_seconds=settings.lease_seconds,
    )
    return {
        "spark": spark,
        "warehouse": warehouse,
        "tables": tables,
        "reports": ReportStoreResource(
            warehouse=warehouse,
            baseline_first_day=settings.okr_baseline[0] if settings.okr_baseline else None,
            baseline_last_day=settings.okr_baseline[1] if settings.okr_baseline else None,
            lease_seconds=settings.lease_seconds,
        ),
        "arrivals": build_arrival_store(settings),
        "io_manager": ParquetIOManager(tables=tables),
    }


def build_arrival_store(settings: Settings) -> ArrivalStore:
    """Markers are listed where the sources are: S3 through dagster-aws, else the local disk."""
    if settings.source_root.split("://", 1)[0] in S3_SCHEMES:
        from dagster_aws.s3 import S3Resource  # imported only for an S3 root: see s3_arrivals

        from addon_okrs.defs.resources.s3_arrivals import S3ArrivalStore

        return S3ArrivalStore(
            root=settings.source_root,
            s3=S3Resource(endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region),
            min_success_markers=settings.min_success_markers,
            lookback_days=settings.lookback_days,
        )
    return LocalArrivalStore(
        root=settings.source_root,
        min_success_markers=settings.min_success_markers,
        lookback_days=settings.lookback_days,
    )


def executor(settings: Settings) -> dg.ExecutorDefinition:
    """In-process with local Spark: the session lives in the run's process and every step must
    share it. With Spark Connect, multiprocess: each step is a process with its own connection
    to the same server. Settings.executor holds the choice, already checked."""
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=graph_assets(settings),
        jobs=[daily_job],
        schedules=[daily_schedule],
        sensors=[build_arrival_sensor(settings.sensor_interval_seconds)],
        resources=build_resources(settings),
        executor=executor(settings),
    )
