"""The Dagster code location: assets, resources and the executor."""

import os
from urllib.parse import urlparse

import dagster as dg

from addon_okrs import settings
from addon_okrs.assets import built_assets, source_assets
from addon_okrs.checks import addon_aggregates_checks
from addon_okrs.io_manager import ParquetIOManager
from addon_okrs.jobs import daily_job
from addon_okrs.resources.arrivals import ArrivalStore, LocalArrivalStore
from addon_okrs.resources.spark import SparkResource, spark_resource_from_env
from addon_okrs.schedules import daily_schedule
from addon_okrs.sensors import upstream_arrival_sensor
from addon_okrs.storage import S3_SCHEMES, normalise_root


def build_resources(
    spark: SparkResource | None = None,
    source_root: str | dg.EnvVar | None = None,
    output_root: str | dg.EnvVar | None = None,
    intermediate_root: str | dg.EnvVar | None = None,
) -> dict[str, object]:
    spark = spark or spark_resource_from_env()
    roots = {
        settings.ENV_SOURCE_ROOT: source_root or settings.source_root(),
        settings.ENV_OUTPUT_ROOT: output_root or settings.output_root(),
        settings.ENV_INTERMEDIATE_ROOT: intermediate_root or settings.intermediate_root(),
    }
    # A malformed root fails here, when the code location loads, naming its setting; not
    # halfway through a run.
    for setting, value in roots.items():
        normalise_root(settings.resolve(value), setting)
    min_success_markers = settings.int_setting(settings.ENV_MIN_SUCCESS_MARKERS, 1)
    return {
        "spark": spark,
        "arrivals": build_arrival_store(roots[settings.ENV_SOURCE_ROOT], min_success_markers),
        "io_manager": ParquetIOManager(
            spark=spark,
            source_root=roots[settings.ENV_SOURCE_ROOT],
            output_root=roots[settings.ENV_OUTPUT_ROOT],
            intermediate_root=roots[settings.ENV_INTERMEDIATE_ROOT],
            min_success_markers=min_success_markers,
            allow_unready_sources=settings.flag(settings.ENV_ALLOW_UNREADY_SOURCES),
        ),
    }


def build_arrival_store(source_root: str | dg.EnvVar, min_success_markers: int) -> ArrivalStore:
    """Markers are listed where the sources are: S3 through dagster-aws, else the local disk."""
    lookback_days = settings.int_setting(settings.ENV_LOOKBACK_DAYS, 7)
    if urlparse(settings.resolve(source_root)).scheme in S3_SCHEMES:
        from dagster_aws.s3 import S3Resource  # imported only for an S3 root: see s3_arrivals

        from addon_okrs.resources.s3_arrivals import S3ArrivalStore

        endpoint = os.environ.get(settings.ENV_S3_ENDPOINT_URL)
        return S3ArrivalStore(
            root=source_root,
            s3=S3Resource(endpoint_url=endpoint),
            min_success_markers=min_success_markers,
            lookback_days=lookback_days,
        )
    return LocalArrivalStore(
        root=source_root, min_success_markers=min_success_markers, lookback_days=lookback_days
    )


EXECUTORS = ("in_process", "multiprocess")


class ExecutorChoiceError(ValueError):
    pass


def choose_executor(spark: SparkResource) -> dg.ExecutorDefinition:
    """In-process with local Spark: the session lives in the run's process and every step must
    share it. With a remote engine (Spark Connect), multiprocess: each step is a process of its
    own with its own connection to the same server. ADDON_OKRS_EXECUTOR overrides the choice
    (e.g. multiprocess against a cluster master, one Spark application per step)."""
    remote = settings.resolve(spark.remote) if spark.remote else ""
    master = settings.resolve(spark.master)
    chosen = os.environ.get(settings.ENV_EXECUTOR, "").strip().lower() or (
        "multiprocess" if remote else "in_process"
    )
    if chosen not in EXECUTORS:
        raise ExecutorChoiceError(
            f"{settings.ENV_EXECUTOR}={chosen!r}: choose one of {', '.join(EXECUTORS)}"
        )
    if chosen == "multiprocess" and not remote and master.startswith("local"):
        raise ExecutorChoiceError(
            f"{settings.ENV_EXECUTOR}=multiprocess with Spark in local mode ({master}) would start "
            "one Spark per step, each unable to see the others' session. Use it with "
            "ADDON_OKRS_SPARK_REMOTE (Spark Connect) or a cluster ADDON_OKRS_SPARK_MASTER."
        )
    return dg.multiprocess_executor if chosen == "multiprocess" else dg.in_process_executor


all_assets: list[dg.AssetSpec | dg.AssetsDefinition] = [*source_assets, *built_assets]
_spark = spark_resource_from_env()

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=addon_aggregates_checks,
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[upstream_arrival_sensor],
    resources=build_resources(_spark),
    executor=choose_executor(_spark),
)
