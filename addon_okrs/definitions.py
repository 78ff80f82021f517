"""The Dagster code location: assets, resources and the executor."""

import dagster as dg

from addon_okrs import settings
from addon_okrs.assets import built_assets, source_assets
from addon_okrs.io_manager import ParquetIOManager
from addon_okrs.resources.spark import SparkResource, spark_resource_from_env


def build_resources(
    spark: SparkResource | None = None,
    source_root: str | dg.EnvVar | None = None,
    output_root: str | dg.EnvVar | None = None,
    intermediate_root: str | dg.EnvVar | None = None,
) -> dict[str, object]:
    spark = spark or spark_resource_from_env()
    return {
        "spark": spark,
        "io_manager": ParquetIOManager(
            spark=spark,
            source_root=source_root or settings.source_root(),
            output_root=output_root or settings.output_root(),
            intermediate_root=intermediate_root or settings.intermediate_root(),
        ),
    }


all_assets: list[dg.AssetSpec | dg.AssetsDefinition] = [*source_assets, *built_assets]

defs = dg.Definitions(
    assets=all_assets,
    resources=build_resources(),
    # Local Spark lives in the run's process: every step must share it, not start its own.
    executor=dg.in_process_executor,
)
