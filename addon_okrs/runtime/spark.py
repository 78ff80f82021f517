"""Every Spark setting a run's session is built with: the Connect remote or the master, the
plan's defaults, local mode's defaults and its sizes from the machine it finds, the S3
connector's, the class archive its driver maps (or writes), and the settings' overrides."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from addon_okrs.runtime import class_archive
from addon_okrs.runtime.java import JavaNotFoundError, find_java
from addon_okrs.settings import Settings
from addon_okrs.storage.s3a import ConnectorError, connector_jars, locked_jars, s3a_conf

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


@dataclass(frozen=True)
class S3Conf:
    """The session's settings for S3; `error`: why S3 cannot be reached (raised when the
    session is first asked for: a run with local roots never is); `fetch_into`: the Maven
    repository where the pinned jars named in `conf` are still to be fetched."""

    conf: dict[str, str]
    error: str | None = None
    fetch_into: Path | None = None


def s3_conf(settings: Settings) -> S3Conf:
    """The connector's jars and `fs.s3a.*` settings when a root is on S3 and the project gives
    Spark its S3 access (ADDON_OKRS_SPARK_S3=project, not over Connect, whose server has its
    own); else nothing. The pinned jars not yet fetched are named all the same, to be fetched
    when the session starts; jars named by ADDON_OKRS_SPARK_JARS that are not there, or a pin
    for another Hadoop, are an error."""
    if not settings.uses_s3 or settings.spark_remote or settings.spark_s3 == "cluster":
        return S3Conf({})
    roots = ", ".join(f"{name}={root}" for name, root in settings.s3_roots().items())
    repository = settings.cache_folder() / "m2"
    fetch_into = None
    try:
        jars = connector_jars(settings.spark_jars, repository)
    except ConnectorError as error:
        if settings.spark_jars:
            return S3Conf({}, f"{roots}: {error}")
        try:
            jars = [str(jar.path(repository)) for jar in locked_jars()]
        except ConnectorError as wrong_pin:
            return S3Conf({}, f"{roots}: {wrong_pin}")
        fetch_into = repository
    if settings.spark_master.startswith("local") and all("://" not in j for j in jars):
        # One JVM: the jars go on its class path as they are. (`spark.jars` would have the
        # local executor copy the 690 MB into each session's temporary folder.)
        given = {"spark.driver.extraClassPath": ":".join(jars)}
    else:
        given = {"spark.jars": ",".join(jars)}  # executors elsewhere: the driver serves them
    return S3Conf({**given, **s3a_conf(settings.s3)}, fetch_into=fetch_into)


def with_class_archive(
    conf: dict[str, str], archives: Path, java_home: str | None, write: bool = True
) -> tuple[dict[str, str], class_archive.Pending | None]:
    """`conf` with the driver's options mapping the class archive in `archives` made for this
    Java and the driver's extra class path when there is one; when there is none, with the
    options that have the driver write it at its exit (unless not `write`), and what to place
    once it has (so the first run makes it, with no job of its own). No Java: `conf` as it is
    (the session's start then says what to install)."""
    try:
        java = find_java(java_home)
    except JavaNotFoundError:
        return conf, None
    class_path = conf.get("spark.driver.extraClassPath", "")
    given = conf.get("spark.driver.extraJavaOptions", "")
    archive = class_archive.archive_path(archives, java, class_path)
    if archive is not None and archive.exists():
        options = class_archive.java_options(archive, given)
        return {**conf, "spark.driver.extraJavaOptions": options}, None
    pending = class_archive.pending(archives, java, class_path) if write else None
    if pending is None:
        return conf, None
    return {**conf, "spark.driver.extraJavaOptions": pending.java_options(given)}, pending


class SparkStartError(RuntimeError):
    """Local Spark's driver JVM exited before it was up: a setting of its start (a JVM
    option, the driver's memory) is what to fix, not something a retry a minute later would."""


def start_failure(conf: Mapping[str, str], submit_opts: str | None) -> str:
    """What to say when local Spark's driver JVM exits at its start: the settings it started
    with, by the names a user sets them under."""
    given = [
        f"{key}={conf[key]!r}"
        for key in ("spark.driver.memory", "spark.driver.extraJavaOptions")
        if key in conf
    ]
    if submit_opts:
        given.append(f"SPARK_SUBMIT_OPTS={submit_opts!r}")
    return (
        "local Spark's driver JVM exited before it started, with "
        + ", ".join(given)
        + " (ADDON_OKRS_SPARK_CONF and SPARK_SUBMIT_OPTS set these; the JVM's own message is "
        "just above in this step's log)"
    )


@dataclass(frozen=True)
class RunConf:
    """A run's Spark: its settings, why an S3 root cannot be reached (raised when the session
    is first asked for), where the S3 connector is to be fetched before it starts, and the
    class archive its driver writes."""

    conf: dict[str, str]
    connector_error: str | None = None
    fetch_jars_into: Path | None = None
    archive: class_archive.Pending | None = None
    # What to say if the driver's JVM exits at its start (local mode only).
    start_failure: str | None = None


def run_conf(settings: Settings, make_archive: bool = True) -> RunConf:
    """The Spark of a run with these settings. In local mode Spark's catalog folder
    (spark-warehouse) goes in the cache folder instead of the working folder, and the driver
    maps the class archive (or, with `make_archive`, writes it when there is none yet)."""
    s3 = s3_conf(settings)
    conf = {
        "spark.app.name": "addon_okrs",
        **session_conf(settings.spark_master, settings.spark_remote, settings.spark_conf, s3.conf),
    }
    pending = None
    if runs_locally(conf):
        warehouse = (settings.cache_folder() / "spark-warehouse").as_uri()
        conf = {"spark.sql.warehouse.dir": warehouse, **conf}
        # A JVM given a class archive by spark-submit's own options refuses to start when told
        # to write another one, and maps only one: that archive is left to itself.
        given_archive = any(
            option in (settings.spark_submit_opts or "")
            for option in ("-XX:SharedArchiveFile", "-XX:ArchiveClassesAtExit")
        )
        if settings.spark_class_archive and not given_archive:
            archives = class_archive.folder(settings.cache_folder())
            conf, pending = with_class_archive(
                conf, archives, settings.java_home, write=make_archive
            )
    failure = start_failure(conf, settings.spark_submit_opts) if runs_locally(conf) else None
    return RunConf(conf, s3.error, s3.fetch_into, pending, failure)
