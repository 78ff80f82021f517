"""The suite's use of the project's Spark class archive (runtime/class_archive.py):
made on the suite's first run on a machine if the set-up has not made it, and carried to the
test process's own sessions through `SPARK_SUBMIT_OPTS`, which every `spark-submit` on this
machine reads. The runs the suite launches (`dagster dev`, the CLI, `dg`) get it from the
project's own setting as well. Standalone masters, workers and their executors do not read
that variable. `ADDON_OKRS_TEST_SPARK_CDS=off` leaves it out of both (to measure what it
saves)."""

import os
import sys
from pathlib import Path

from addon_okrs.runtime import class_archive
from addon_okrs.runtime.java import JavaNotFoundError, find_java
from addon_okrs.settings import Settings
from harness.servers import child_env

SWITCH = "ADDON_OKRS_TEST_SPARK_CDS"


def ensure_archive() -> Path | None:
    """The archive for local runs without extra jars, made first if missing; None when the
    switch is off, there is no Java or making it failed (the suite then runs without it)."""
    if os.environ.get(SWITCH, "on") == "off":
        return None
    try:
        java = find_java(os.environ.get("JAVA_HOME"))
    except JavaNotFoundError:
        return None  # Spark's own start then says what to install
    try:
        archives = class_archive.folder(Settings.from_env().cache_folder())
        return class_archive.make(archives, java, env=child_env())
    except class_archive.ClassArchiveError as error:
        sys.stderr.write(f"spark-cds: no archive made: {error}\n")
        return None


def submit_opts(archive: Path | None, given: str = "") -> str:
    """SPARK_SUBMIT_OPTS for drivers that use `archive`, after the options `given`."""
    return given if archive is None else class_archive.java_options(archive, given)
