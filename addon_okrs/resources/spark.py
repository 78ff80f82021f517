"""The Spark session resource: local mode by default, a cluster master or a Spark Connect
server by configuration, and one session per run process however many assets use it."""

import os
import shutil
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import SparkSession

# Local-mode settings that suit a laptop-sized day; any of them can be overridden in `conf`.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "2g",
}


class JavaNotFoundError(RuntimeError):
    pass


def find_java() -> str:
    """The java binary Spark will launch, or a JavaNotFoundError saying what to install."""
    java_home = os.environ.get("JAVA_HOME")
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

    @classmethod
    def for_tests(cls) -> "SparkResource":
        return cls(
            master="local[2]",
            spark_config={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "4"},
        )

    def get_session(self) -> SparkSession:
        return self.spark_session

    def _init_session(self) -> None:
        if self._spark_session is not None:
            return
        if self.remote:
            builder = SparkSession.builder.remote(self.remote)
            conf: dict[str, Any] = dict(self.spark_config)
        else:
            find_java()
            builder = SparkSession.builder.master(self.master)
            conf = (
                {**LOCAL_DEFAULTS, **self.spark_config}
                if self.master.startswith("local")
                else dict(self.spark_config)
            )
        builder = builder.appName(self.app_name)
        for key, value in conf.items():
            builder = builder.config(key, str(value))
        self._spark_session = builder.getOrCreate()


def spark_resource_from_env() -> SparkResource:
    """Master/remote from ADDON_OKRS_SPARK_MASTER / ADDON_OKRS_SPARK_REMOTE when set."""
    settings: dict[str, Any] = {}
    if os.environ.get("ADDON_OKRS_SPARK_MASTER"):
        settings["master"] = dg.EnvVar("ADDON_OKRS_SPARK_MASTER")
    if os.environ.get("ADDON_OKRS_SPARK_REMOTE"):
        settings["remote"] = dg.EnvVar("ADDON_OKRS_SPARK_REMOTE")
    return SparkResource(**settings)
