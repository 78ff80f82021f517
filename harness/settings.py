"""Settings for a throwaway warehouse on this machine: roots under one folder, and a small
local Spark (2 cores, 2 GB, no UI, 4 shuffle partitions) that one test process shares."""

import os
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from addon_okrs.defs.resources.spark import SparkResource
from addon_okrs.runtime.spark import session_conf
from addon_okrs.settings import Settings, parse_spark_conf

LOCAL_MASTER = "local[2]"
SMALL_SPARK: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
    # Test days are small: local mode's size from the machine (a quarter of its memory) would
    # only let the heap of each test process grow.
    "spark.driver.memory": "2g",
}


def small_spark() -> dict[str, str]:
    """SMALL_SPARK with the extra settings of ADDON_OKRS_TEST_SPARK_CONF (an accelerator's
    plugin, say; ADDON_OKRS_SPARK_CONF's form) over it, read when a session is set up."""
    extra = os.environ.get("ADDON_OKRS_TEST_SPARK_CONF", "")
    return {**SMALL_SPARK, **parse_spark_conf(extra, setting="ADDON_OKRS_TEST_SPARK_CONF")}


def local_settings(sources: Path, output: Path, **overrides: Any) -> Settings:
    """Sources read from `sources`, everything written below `output` (intermediates in
    `output/intermediate`), Spark local[2]. Keyword arguments override any field."""
    fields: dict[str, Any] = {
        "source_root": sources.as_uri(),
        "output_root": output.as_uri(),
        "intermediate_root": (output / "intermediate").as_uri(),
        "spark_master": LOCAL_MASTER,
        "spark_conf": small_spark(),
        **overrides,
    }
    return Settings(**fields)


def local_table(output: Path, name: str) -> Path:
    """The folder of table `name` below an output root laid out as local_settings lays it
    (and as a run with only ADDON_OKRS_OUTPUT_ROOT set does): placed by the Warehouse."""
    return Path(local_settings(output, output).warehouse().table(name).location.path)


def local_spark() -> SparkSession:
    """The session that runs with local_settings share (getOrCreate: one per process)."""
    return SparkResource(spark_config=session_conf(LOCAL_MASTER, None, small_spark())).get_session()
