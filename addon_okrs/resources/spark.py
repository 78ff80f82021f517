"""The Spark session resource: local mode by default, a cluster master or a Spark Connect
server by configuration, and one session per run process however many assets use it."""

import os
import shutil
import sys
from typing import Any

from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import SparkSession

from addon_okrs.settings import Settings

# Local-mode settings that suit a laptop-sized day; any of them can be overridden in `conf`.
# What the plan relies on to be fast anywhere (transforms.by_client): joins on (day, client,
# channel) reuse a partitioning on (day, client) instead of shuffling again. Overridable.
PLAN_DEFAULTS: dict[str, str] = {
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
}

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "2g",
    # A batch job wants throughput, not short pauses: the parallel collector instead of G1
    # runs a 1M-client day about 10% faster here (BENCHMARKS.md).
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
    # List a day's 100 sample_id folders in the driver, not as a 100-task Spark job: in local
    # mode that job runs on the same cores, and costs more than the listing.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000",
}


class JavaNotFoundError(RuntimeError):
    pass


def find_java(java_home: str | None) -> str:
    """The java binary Spark will launch (JAVA_HOME's, else `java` on PATH), or a
    JavaNotFoundError saying what to install."""
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
        raise JavaNotFoundError(
            f"JAVA_HOME={java_home} has no bin/java. Point JAVA_HOME at a Java 17, 21 or 25 "
            "runtime, or unset it to use `java` from PATH."
        )
    on_path = shutil.which("java")
    if on_path:
        return on_path
    raise JavaNotFoundError(
        "Spark needs Java 17, 21 or 25 and none was found (no JAVA_HOME, no `java` on PATH). "
        "Install one, e.g. `apt-get install -y openjdk-17-jre-headless` on Debian/Ubuntu, "
        "or run `make setup`, which does that when it can."
    )


class SparkResource(LazyPySparkResource):
    """Builds (lazily, on first use) the run's SparkSession.

    `remote` (Spark Connect, `sc://host:port`) wins over `master`; `spark_config` is passed
    through as is and overrides the local defaults.
    """

    master: str = Field(default="local[*]", description="Spark master URL, e.g. spark://host:7077")
    remote: str | None = Field(
        default=None, description="Spark Connect URL (sc://host:port); when set, master is unused"
    )
    app_name: str = "addon_okrs"
    spark_config: dict[str, Any] = Field(default_factory=dict)
    java_home: str | None = Field(
        default=None, description="the Java runtime for local Spark (else java on PATH)"
    )

    def get_session(self) -> SparkSession:
        return self.spark_session

    def _init_session(self) -> None:
        if self._spark_session is not None:
            return
        if self.remote:
            builder = SparkSession.builder.remote(self.remote)
            conf: dict[str, Any] = {**PLAN_DEFAULTS, **self.spark_config}
        else:
            find_java(self.java_home)
            builder = SparkSession.builder.master(self.master)
            conf = (
                {**PLAN_DEFAULTS, **LOCAL_DEFAULTS, **self.spark_config}
                if self.master.startswith("local")
                else {**PLAN_DEFAULTS, **self.spark_config}
            )
        builder = builder.appName(self.app_name)
        for key, value in conf.items():
            builder = builder.config(key, str(value))
        self._spark_session = builder.getOrCreate()
        if not self.remote and self.master.startswith("local"):
            # In local mode a Python UDF's workers run on this machine: give them this
            # interpreter, not the first `python3` on PATH, which may lack this environment's
            # packages (PySpark reads only PYSPARK_PYTHON, at start-up, for this).
            self._spark_session.sparkContext.pythonExec = sys.executable


def spark_resource(settings: Settings) -> SparkResource:
    """The Spark resource of these settings: master or Connect remote, and extra conf."""
    return SparkResource(
        master=settings.spark_master,
        remote=settings.spark_remote,
        spark_config=dict(settings.spark_conf),
        java_home=settings.java_home,
    )
