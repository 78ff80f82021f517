"""A class-data-sharing archive of the local Spark driver's JVM: a run's driver maps the classes
Spark loads from one file instead of reading, parsing and verifying them out of its jars at
every start (docs/performance.md has what that saves a run).

The archive is the JVM's own dynamic one (`-XX:ArchiveClassesAtExit`), written when a JVM that
was told to exits normally: by the first local run that finds none (`pending`, then `place` once
that run's JVM has exited), or ahead of any run by a small job that reads, joins, aggregates and
writes parquet as the pipeline does (`make`, which `addon-okrs class-archive` runs). It serves
only a JVM of the same Java build, PySpark
installation and extra class path, so its file name holds a hash of the three
(`archive_path`); a JVM given one that does not match starts as it would without it. Only
local mode uses it: a cluster's or a Connect server's JVMs are not started by the run."""

import atexit
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

from addon_okrs.runtime.java import java_version

MAKE_TIMEOUT_SECONDS = 600
# A JVM that cannot map the archive says so on stderr, then starts as without it: all a run
# needs, so the message is turned off with the rest of the archive's logging.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
# The job that makes the archive compiles with the JIT's first tier only: what it archives is
# classes, not compiled code, and the optimising compiler's threads would only cost it CPU time.
MAKE_JIT = "-XX:TieredStopAtLevel=1"

# What the archive is made from: the classes a day's run loads in the driver (parquet read and
# write, a shuffle join, aggregation, a window).
WORKLOAD = """
import sys
from pyspark.sql import SparkSession, Window, functions as F
builder = (SparkSession.builder.master("local[2]").appName("spark-cds")
           .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
           .config("spark.driver.extraJavaOptions", sys.argv[2]))
if sys.argv[3]:
    builder = builder.config("spark.driver.extraClassPath", sys.argv[3])
spark = builder.getOrCreate()
folder = sys.argv[1]
days = spark.range(20000).select((F.col("id") % 997).cast("string").alias("client_id"),
                                 (F.col("id") % 5).alias("n"), F.lit("release").alias("channel"))
days.write.mode("overwrite").partitionBy("channel").parquet(folder + "/a")
read = spark.read.parquet(folder + "/a")
counts = read.groupBy("client_id").agg(F.count("*").alias("rows"), F.countDistinct("n").alias("k"))
ranked = read.withColumn("r", F.row_number().over(Window.partitionBy("client_id").orderBy("n")))
joined = ranked.join(counts, "client_id").groupBy("channel").agg(F.sum("rows"), F.max("r"))
joined.repartition(2).write.mode("overwrite").parquet(folder + "/b")
spark.read.parquet(folder + "/b").collect()
spark.stop()
"""


class ClassArchiveError(RuntimeError):
    pass


def folder(cache: Path) -> Path:
    """Where the archives live in the cache folder of the settings."""
    return cache / "spark-cds"


def archive_path(folder: Path, java: str, class_path: str = "") -> Path | None:
    """Where the archive for the `java` binary local Spark launches, this PySpark and the
    driver's extra class path (`spark.driver.extraClassPath`) lives in `folder` (it may not
    exist yet); None when that Java does not run."""
    version = java_version(java)
    if version is None:
        return None
    key = f"{version}\n{pyspark.__version__}\n{pyspark.__file__}\n{class_path}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"pyspark-{pyspark.__version__}-{digest}.jsa"


def make(
    folder: Path, java: str, class_path: str = "", env: Mapping[str, str] | None = None
) -> Path:
    """The archive for the `java` binary, this PySpark and `class_path` in `folder`, made
    first if missing (under a minute and about 180 MB here) by a job run with `env` (by default this
    process's environment, whose JAVA_HOME or PATH gave `java`). Processes making the same one
    at the same time take turns on a lock file beside it: the first makes it, the others find
    it made (the job costs a minute of CPU, which two cores cannot give three makers at once).
    Each maker writes its own file and moves it into place whole. A ClassArchiveError says why
    none could be made."""
    target = archive_path(folder, java, class_path)
    if target is None:
        raise ClassArchiveError(
            f"{java} does not run, so no Spark class archive can be made for it"
        )
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or its process dies
        if not target.exists():
            _run_job(target, class_path, env)
    return target


def _run_job(target: Path, class_path: str, env: Mapping[str, str] | None) -> None:
    """Make `target` by running WORKLOAD in a JVM told to archive its classes at exit."""
    partial = target.parent / f".{target.name}.{os.getpid()}"  # on the target's file system
    options = f"-XX:ArchiveClassesAtExit={partial} {MAKE_JIT} {QUIET}"
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as scratch:
        try:
            done = subprocess.run(
                [sys.executable, "-c", WORKLOAD, scratch, options, class_path],
                env=env,
                capture_output=True,
                timeout=MAKE_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise ClassArchiveError(
                f"{target}: the job that makes the archive ran past {MAKE_TIMEOUT_SECONDS} s"
            ) from None
        if done.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            tail = done.stderr.decode(errors="replace")[-2000:]
            raise ClassArchiveError(
                f"{target}: the job that makes the archive failed (exit {done.returncode}):\n{tail}"
            )
        os.replace(partial, target)


def java_options(archive: Path, given: str = "") -> str:
    """The driver JVM options `given`, then those that map `archive`."""
    return f"{given} -XX:SharedArchiveFile={archive} {QUIET}".strip()


@dataclass(frozen=True)
class Pending:
    """An archive a run's own driver writes when its JVM exits: to `partial` (this process's
    own file), moved to `target` by `place` once the JVM is gone."""

    partial: Path
    target: Path

    def java_options(self, given: str = "") -> str:
        """The driver JVM options `given`, then those that write the archive at its exit."""
        return f"{given} -XX:ArchiveClassesAtExit={self.partial} {QUIET}".strip()

    def place(self) -> Path | None:
        """The archive in place, once the JVM that wrote it has exited; None when it wrote
        none (it was killed, or another run placed one first: both fine, runs start without
        it or with the other's)."""
        if not self.partial.exists():
            return None
        if self.target.exists():
            self.partial.unlink(missing_ok=True)
            return self.target
        os.replace(self.partial, self.target)
        return self.target


def pending(archives: Path, java: str, class_path: str = "") -> Pending | None:
    """The archive a local run's driver should write at its exit: when there is none yet for
    its Java and class path in `archives` (and that Java runs), so that the first run pays no
    separate job for it; None when one exists or none can be made."""
    target = archive_path(archives, java, class_path)
    if target is None or target.exists():
        return None
    archives.mkdir(parents=True, exist_ok=True)
    return Pending(archives / f".{target.name}.{os.getpid()}", target)


# How long a run's exit waits for its driver to write the archive (184 MB took 5-10 s here).
WRITE_TIMEOUT_SECONDS = 120


def write_at_exit(session: Any, archive: Pending) -> None:
    """At this process's exit, stop `session` (a local one whose JVM this process started
    with `archive.java_options`), let its JVM exit, which is when it writes the archive, and
    place the archive. Registered once the session exists; a process killed before its exit
    leaves only its partial file, which the next run's `pending` does not reuse."""

    def close_and_place() -> None:
        from pyspark import SparkContext

        gateway = SparkContext._gateway  # type: ignore[attr-defined]
        process = getattr(gateway, "proc", None)
        with contextlib.suppress(Exception):
            session.stop()
        if process is None or process.stdin is None:
            return
        # PySpark's JVM exits normally when its standard input closes (System.exit).
        with contextlib.suppress(OSError):
            process.stdin.close()
        try:
            process.wait(WRITE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return
        archive.place()

    atexit.register(close_and_place)
