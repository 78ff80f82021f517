"""The Dagster code location built from one Settings object: resources, executor, sensor and
every definition. `definitions.py` calls it once with the settings of the environment; tests
and tools call it with their own."""

import dagster as dg

from addon_okrs.assets import backfill_policy, built_assets, source_assets
from addon_okrs.io_manager import ParquetIOManager
from addon_okrs.jobs import daily_job
from addon_okrs.resources.arrivals import ArrivalStore, LocalArrivalStore
from addon_okrs.resources.reports import OkrReportResource
from addon_okrs.resources.spark import spark_resource
from addon_okrs.resources.tables import TableStoreResource
from addon_okrs.resources.warehouse import WarehouseResource
from addon_okrs.schedules import daily_schedule
from addon_okrs.sensors import build_arrival_sensor
from addon_okrs.settings import Settings
from addon_okrs.storage import S3_SCHEMES


def graph_assets(settings: Settings) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    """The two sources and every built asset, backfilling in runs of the configured size."""
    policy = backfill_policy(settings.backfill_days_per_run)
    return [*source_assets, *(a.with_attributes(backfill_policy=policy) for a in built_assets)]


def build_resources(settings: Settings) -> dict[str, object]:
    spark = spark_resource(settings)
    warehouse = WarehouseResource(
        source_root=settings.source_root,
        output_root=settings.output_root,
        intermediate_root=settings.intermediate_root,
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
    )
    tables = TableStoreResource(
        spark=spark,
        warehouse=warehouse,
        target_file_mb=settings.target_file_mb,
        min_success_markers=settings.min_success_markers,
        allow_unready_sources=settings.allow_unready_sources,
    )
    return {
        "spark": spark,
        "warehouse": warehouse,
        "tables": tables,
        "reports": OkrReportResource(
            warehouse=warehouse,
            baseline_first_day=settings.okr_baseline[0] if settings.okr_baseline else None,
            baseline_last_day=settings.okr_baseline[1] if settings.okr_baseline else None,
        ),
        "arrivals": build_arrival_store(settings),
        "io_manager": ParquetIOManager(tables=tables),
    }


def build_arrival_store(settings: Settings) -> ArrivalStore:
    """Markers are listed where the sources are: S3 through dagster-aws, else the local disk."""
    if settings.source_root.split("://", 1)[0] in S3_SCHEMES:
        from dagster_aws.s3 import S3Resource  # imported only for an S3 root: see s3_arrivals

        from addon_okrs.resources.s3_arrivals import S3ArrivalStore

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
