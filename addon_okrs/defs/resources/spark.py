"""The Spark session resource: local mode by default, a cluster master or a Spark Connect
server by configuration, and one session per run process however many assets use it. Built on
dagster-pyspark's public API only."""

import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark.sql import SparkSession

from addon_okrs.defs.resources import class_archive
from addon_okrs.settings import Settings
from addon_okrs.storage.s3a import ConnectorError, connector_jars, s3a_conf

# Local-mode settings that suit a laptop-sized day; any of them can be overridden in `conf`.
# What the plan relies on to be fast anywhere (transforms.by_client): joins on (client, day,
# channel) reuse a partitioning on the client alone (a shuffle, or the buckets of the stored
# intermediates) instead of shuffling again. Overridable.
PLAN_DEFAULTS: dict[str, str] = {
    "spark.sql.requireAllClusterKeysForCoPartition": "false",
}

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    # A batch job wants throughput, not short pauses: the parallel collector instead of G1
    # takes about 10% off `fused` here (docs/performance.md). (`local_sizes` adds the cap of
    # its young generation to the same setting.)
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
    # List a day's 100 sample_id folders in the driver, not as a 100-task Spark job: in local
    # mode that job runs on the same cores, and costs more than the listing.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000",
}

# Local mode's sizes, from the machine (`local_sizes`): every task runs inside the driver, so
# its heap is the job's memory, and a heap too small for a day's join spills it to disk.
GB = 1 << 30
MIN_DRIVER_GB = 2  # the fixed size of earlier rounds, enough up to 4M clients (docs/performance.md)
DRIVER_MEMORY_FRACTION = 0.25  # of the memory found: room for Python, the OS and other runs
MAX_DRIVER_GB = 31  # above 31 GB the JVM's object pointers stop being compressed
MIN_SHUFFLE_PARTITIONS = 8
SHUFFLE_PARTITIONS_PER_CORE = 4
# The parallel collector lets its young generation grow to a third of the heap, and a run fills
# it before each collection, so a larger heap touched memory a small day never needed (at 1M
# clients, 1 GB more of peak and 5 task-seconds more, docs/performance.md). The cap: the young
# generation the 2 GB floor has (a third of it), per 2 cores the master runs tasks on.
YOUNG_MB_PER_2_CORES = -(-MIN_DRIVER_GB * 1024 // 3)  # 683 MB, rounded up


@dataclass(frozen=True)
class Machine:
    """The cores this process may run on and the memory it may use (a cgroup's limit when
    lower than the machine's)."""

    cores: int
    memory_bytes: int

    @classmethod
    def found(cls) -> "Machine":
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        for limit_file in (
            "/sys/fs/cgroup/memory.max",  # cgroup v2
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",  # cgroup v1
        ):
            try:
                text = Path(limit_file).read_text().strip()
            except OSError:
                continue
            if text.isdigit():
                memory = min(memory, int(text))
        return cls(cores=max(1, cores), memory_bytes=memory)


def local_cores(master: str, machine: Machine) -> int:
    """The cores a local master runs tasks on: `local` one, `local[N]` (or `local[N,F]`) N,
    `local[*]` and anything else the machine's."""
    if master == "local":
        return 1
    given = re.fullmatch(r"local\[(\d+)(?:,\d+)?\]", master)
    return int(given.group(1)) if given else machine.cores


def local_sizes(master: str, machine: Machine) -> dict[str, str]:
    """Driver memory, its young generation and shuffle partitions for a local master on this
    machine: a quarter of the memory found, to the nearest GB (at least 2 GB, at most 31); a
    young generation of at most 683 MB per 2 cores the master runs tasks on (1 core counts as
    2), never more than the third of the heap the collector would take itself; and 4 shuffle
    partitions per core (at least 8). On the 2-core, 24 GB machine the project is measured on
    that is 6 GB, 683 MB and 8."""
    quarter = int(machine.memory_bytes * DRIVER_MEMORY_FRACTION / GB + 0.5)  # halves go up
    driver_gb = max(MIN_DRIVER_GB, min(quarter, MAX_DRIVER_GB))
    cores = local_cores(master, machine)
    young_mb = min(driver_gb * 1024 // 3, YOUNG_MB_PER_2_CORES * max(cores, 2) // 2)
    partitions = max(MIN_SHUFFLE_PARTITIONS, SHUFFLE_PARTITIONS_PER_CORE * cores)
    return {
        "spark.driver.memory": f"{driver_gb}g",
        "spark.driver.extraJavaOptions": (
            f"{LOCAL_DEFAULTS['spark.driver.extraJavaOptions']} -XX:MaxNewSize={young_mb}m"
        ),
        "spark.sql.shuffle.partitions": str(partitions),
    }


def runs_locally(conf: Mapping[str, object]) -> bool:
    """Whether a session of `conf` runs in local mode, its driver started by this process (no
    Connect remote, a `local` master or none)."""
    return "spark.remote" not in conf and str(conf.get("spark.master", "local[*]")).startswith(
        "local"
    )


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


def session_conf(
    master: str,
    remote: str | None,
    overrides: Mapping[str, str],
    s3: Mapping[str, str] | None = None,
    machine: Machine | None = None,
) -> dict[str, str]:
    """Every Spark setting a run's session is built with: the Connect remote (which wins) or
    the master, the plan's defaults, local mode's defaults and sizes (from `machine`, by
    default the one this runs on) in local mode, the S3 connector's
    (`s3`, from `s3_conf`), then `overrides` (settings: ADDON_OKRS_SPARK_CONF), which win over
    all of them, but for `spark.jars` and `spark.driver.extraClassPath`, whose entries are
    added to the connector's."""
    if remote:
        return {"spark.remote": remote, **PLAN_DEFAULTS, **overrides}
    local: dict[str, str] = {}
    if master.startswith("local"):
        local = {**LOCAL_DEFAULTS, **local_sizes(master, machine or Machine.found())}
    conf = {"spark.master": master, **PLAN_DEFAULTS, **local, **(s3 or {}), **overrides}
    for key, separator in (("spark.jars", ","), ("spark.driver.extraClassPath", ":")):
        parts = [
            part
            for text in ((s3 or {}).get(key), overrides.get(key))
            if text
            for part in text.split(separator)
        ]
        if parts:
            conf[key] = separator.join(dict.fromkeys(parts))
    return conf


def s3_conf(settings: Settings) -> tuple[dict[str, str], str | None]:
    """The connector's jars and `fs.s3a.*` settings when a root is on S3 and the project gives
    Spark its S3 access (ADDON_OKRS_SPARK_S3=project, not over Connect, whose server has its
    own); else nothing. With the connector missing: no settings, and the message to fail with
    when the session is first asked for (a run with local roots never is)."""
    if not settings.uses_s3 or settings.spark_remote or settings.spark_s3 == "cluster":
        return {}, None
    try:
        jars = connector_jars(settings.spark_jars)
    except ConnectorError as error:
        roots = ", ".join(f"{name}={root}" for name, root in settings.s3_roots().items())
        return {}, f"{roots}: {error}"
    if settings.spark_master.startswith("local") and all("://" not in j for j in jars):
        # One JVM: the jars go on its class path as they are. (`spark.jars` would have the
        # local executor copy the 690 MB into each session's temporary folder.)
        given = {"spark.driver.extraClassPath": ":".join(jars)}
    else:
        given = {"spark.jars": ",".join(jars)}  # executors elsewhere: the driver serves them
    return {**given, **s3a_conf(settings.s3)}, None


class SparkResource(LazyPySparkResource):
    """Builds (lazily, on first use) the run's SparkSession from `spark_config`, as
    dagster-pyspark's LazyPySparkResource does (`session_conf` composes it), with two checks
    of its own in local mode: a Java runtime is there before Spark tries to start one, and
    Python UDF workers run this interpreter."""

    java_home: str | None = Field(
        default=None, description="the Java runtime for local Spark (else java on PATH)"
    )
    connector_error: str | None = Field(
        default=None, description="why an S3 root cannot be reached: the connector is missing"
    )

    @property
    def is_local(self) -> bool:
        return runs_locally(self.spark_config)

    @property
    def spark_session(self) -> SparkSession:
        if self.connector_error:
            raise ConnectorError(self.connector_error)
        if self.is_local:
            find_java(self.java_home)
        session: SparkSession = super().spark_session
        if self.is_local:
            # A Python UDF's workers run on this machine: give them this interpreter, not the
            # first `python3` on PATH, which may lack this environment's packages (PySpark reads
            # only PYSPARK_PYTHON, at start-up, for this).
            session.sparkContext.pythonExec = sys.executable
        return session

    def get_session(self) -> SparkSession:
        return self.spark_session


def with_class_archive(conf: dict[str, str], folder: Path, java_home: str | None) -> dict[str, str]:
    """`conf` with the driver's options mapping the class archive in `folder` made for this
    Java and the driver's extra class path, when there is one; else `conf` as it is (no Java
    included: the session's start then says what to install)."""
    try:
        java = find_java(java_home)
    except JavaNotFoundError:
        return conf
    archive = class_archive.archive_path(folder, java, conf.get("spark.driver.extraClassPath", ""))
    if archive is None or not archive.exists():
        return conf
    given = conf.get("spark.driver.extraJavaOptions", "")
    return {**conf, "spark.driver.extraJavaOptions": class_archive.java_options(archive, given)}


def spark_resource(settings: Settings) -> SparkResource:
    """The Spark resource of these settings: master or Connect remote, S3 access, extra conf."""
    s3, connector_error = s3_conf(settings)
    conf = {
        "spark.app.name": "addon_okrs",
        **session_conf(settings.spark_master, settings.spark_remote, settings.spark_conf, s3),
    }
    if runs_locally(conf) and settings.spark_class_archive:
        conf = with_class_archive(conf, class_archive.FOLDER, settings.java_home)
    return SparkResource(
        spark_config=conf, java_home=settings.java_home, connector_error=connector_error
    )
