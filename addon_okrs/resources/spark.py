"""The Spark session resource: local mode by default, a cluster master or a Spark Connect
server by configuration, and one session per run process however many assets use it."""

import json
import os
import shutil
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import SparkSession

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
            conf: dict[str, Any] = {**PLAN_DEFAULTS, **self.spark_config}
        else:
            find_java()
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


ENV_MASTER = "ADDON_OKRS_SPARK_MASTER"
ENV_REMOTE = "ADDON_OKRS_SPARK_REMOTE"
ENV_CONF = "ADDON_OKRS_SPARK_CONF"


class SparkConfError(ValueError):
    pass


def parse_spark_conf(text: str) -> dict[str, str]:
    """`key=value` pairs, one per line (values may hold commas, e.g. spark.jars.packages) or,
    on a single line, separated by commas; or a JSON object. Blank lines and lines starting
    with # are skipped."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise SparkConfError(f"{ENV_CONF} is not valid JSON: {error}") from error
        if not isinstance(loaded, dict):
            raise SparkConfError(f"{ENV_CONF} must be a JSON object of Spark settings")
        return {str(k): str(v) for k, v in loaded.items()}
    conf: dict[str, str] = {}
    items = text.splitlines() if "\n" in text else text.split(",")
    for item in items:
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SparkConfError(
                f"{ENV_CONF}: {item!r} is not key=value "
                "(example: spark.executor.memory=4g,spark.sql.shuffle.partitions=400)"
            )
        conf[key.strip()] = value.strip()
    return conf


def spark_resource_from_env() -> SparkResource:
    """Master, remote and extra Spark conf from ADDON_OKRS_SPARK_MASTER, _REMOTE and _CONF."""
    settings: dict[str, Any] = {}
    if os.environ.get(ENV_MASTER):
        settings["master"] = dg.EnvVar(ENV_MASTER)
    if os.environ.get(ENV_REMOTE):
        settings["remote"] = dg.EnvVar(ENV_REMOTE)
    conf = parse_spark_conf(os.environ.get(ENV_CONF, ""))
    if conf:
        settings["spark_config"] = conf
    return SparkResource(**settings)
