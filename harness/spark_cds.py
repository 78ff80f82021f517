"""A class-data-sharing archive of Spark's driver JVM, so that each of the suite's Spark
starts (the test process's session, and the driver of every run `dagster dev`, the CLI or
`dg` launches) maps the classes a run loads instead of parsing and verifying them again.

The archive is the JVM's own dynamic one (`-XX:ArchiveClassesAtExit`), made once per machine
by a small local job that reads, joins, aggregates and writes parquet as the pipeline does,
and kept in `.cache/spark-cds/` under a name that holds the Java and PySpark versions. A JVM
whose class path or Java build does not match it starts as it would without it. Only the
harness uses it: `SPARK_SUBMIT_OPTS`, which every `spark-submit` on this machine reads, carries
it to the drivers; standalone masters, workers and their executors do not read that variable.
`ADDON_OKRS_TEST_SPARK_CDS=off` leaves it out (to measure what it saves)."""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from addon_okrs.defs.resources.spark import JavaNotFoundError, find_java
from harness.servers import child_env

PROJECT = Path(__file__).resolve().parents[1]
FOLDER = PROJECT / ".cache" / "spark-cds"
SWITCH = "ADDON_OKRS_TEST_SPARK_CDS"
# A JVM that cannot map the archive says so on stderr; it then starts as without it, which is
# all a test needs, so the message is turned off with the rest of the archive's logging.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"

# What the archive is made from: the classes a day's run loads in the driver (parquet read and
# write, a shuffle join, aggregation, a window), run in a child process whose JVM exits
# normally, which is when the archive is written.
WORKLOAD = """
import sys
from pyspark.sql import SparkSession, Window, functions as F
spark = (SparkSession.builder.master("local[2]").appName("spark-cds")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
         .getOrCreate())
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


def java_version() -> str | None:
    """What `java -version` says of the Java Spark launches (JAVA_HOME's, else PATH's), or
    None when there is none."""
    try:
        java = find_java(os.environ.get("JAVA_HOME"))
        done = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    except (JavaNotFoundError, OSError, subprocess.CalledProcessError):
        return None
    return done.stderr.strip()


def archive_path() -> Path | None:
    """Where the archive of this machine's Java and PySpark lives (it may not exist yet);
    None without a Java."""
    import pyspark

    java = java_version()
    if java is None:
        return None
    key = hashlib.sha256(f"{java}\n{pyspark.__version__}\n{pyspark.__file__}".encode())
    return FOLDER / f"pyspark-{pyspark.__version__}-{key.hexdigest()[:16]}.jsa"


def ensure_archive() -> Path | None:
    """The archive, made first if missing; None when the switch is off, there is no Java or
    making it failed (the suite then runs without it)."""
    if os.environ.get(SWITCH, "on") == "off":
        return None
    target = archive_path()
    if target is None:
        return None  # Spark's own start then says what to install
    if target.exists():
        return target
    FOLDER.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="spark-cds-") as scratch:
        partial = FOLDER / f".{target.name}.{os.getpid()}"  # on the target's file system
        env = child_env(SPARK_SUBMIT_OPTS=f"-XX:ArchiveClassesAtExit={partial} {QUIET}")
        try:
            done = subprocess.run(
                [sys.executable, "-c", WORKLOAD, scratch], env=env, capture_output=True, timeout=600
            )
        except subprocess.TimeoutExpired:
            sys.stderr.write("spark-cds: no archive made (its job ran past 600 s)\n")
            partial.unlink(missing_ok=True)
            return None
        if done.returncode != 0 or not partial.exists():
            sys.stderr.write(f"spark-cds: no archive made ({done.returncode}):\n")
            sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
            partial.unlink(missing_ok=True)
            return None
        os.replace(partial, target)  # whole or absent, whoever else makes it at the same time
    return target


def submit_opts(archive: Path | None, given: str = "") -> str:
    """SPARK_SUBMIT_OPTS for drivers that use `archive`, after the options `given`."""
    if archive is None:
        return given
    return f"{given} -XX:SharedArchiveFile={archive} {QUIET}".strip()
