import multiprocessing.util
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pyspark.sql import SparkSession

from harness import schedule, spark_cds
from harness.servers import moto_server
from harness.settings import local_spark, small_spark

# What a test starts, as its markers say; any of them makes it `slow` (make check leaves
# out `slow`, and the guard below fails a test that starts one of these without its marker).
STARTS = ("process", "s3", "postgres", "dagster", "ui", "cluster")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that starts something is `slow`; the longest units of the suite first
    (harness/schedule.py), alone or under -n."""
    for item in items:
        if any(item.get_closest_marker(name) for name in STARTS):
            item.add_marker(pytest.mark.slow)
    schedule.longest_first(items)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The class archive made once, before any test (and before xdist's workers start, whose
    sessions then find it): not by the first test's fixture, in each worker at once."""
    if not hasattr(session.config, "workerinput"):
        spark_cds.ensure_archive()


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under -n: test files (or xdist groups) as units, longest first (harness/schedule.py)."""
    return schedule.LongestFirst(config, log)


def _may_start(command: list[str]) -> bool:
    """What a test that is not `slow` may start: its Spark session's JVM (pyspark's gateway)
    and a `java -version` probe."""
    return command[-1:] == ["pyspark-shell"] or command[-1:] == ["-version"]


@contextmanager
def nothing_started_unless_marked(item: pytest.Item) -> Iterator[None]:
    """While a test not marked slow is set up and run (its fixtures included, a session
    server first started for it too), it may start no process but its Spark session: so
    `-m 'not slow'` (make check) really starts no server and no fresh process."""
    if item.get_closest_marker("slow"):
        yield
        return
    popen = subprocess.Popen.__init__

    def guarded_popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
        command = [str(a) for a in args] if isinstance(args, list | tuple) else [str(args)]
        if not _may_start(command):
            raise AssertionError(
                f"{item.nodeid} starts {command[:3]} but has none of the markers {STARTS}"
            )
        popen(self, args, *rest, **kw)

    def guarded_spawn(path: Any, args: Any, passfds: Any) -> Any:
        raise AssertionError(f"{item.nodeid} starts a process ({path}) but is not marked 'process'")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", guarded_popen)
        patch.setattr(multiprocessing.util, "spawnv_passfds", guarded_spawn)
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with nothing_started_unless_marked(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with nothing_started_unless_marked(item):
        yield


# The JIT's first compiler only, for every driver the suite starts: the suite's JVMs live for
# seconds to minutes on days of a few thousand clients, where the optimising compiler's work
# (its threads compete with the tests for two cores) does not pay back.
SUITE_JVM = "-XX:TieredStopAtLevel=1"


@pytest.fixture(scope="session", autouse=True)
def spark_class_archive() -> Iterator[None]:
    """Every Spark driver the suite starts (its own session's and those of the runs it
    launches, which inherit this process's environment) maps the classes from one archive
    (harness/spark_cds.py), made on the first run on a machine unless the set-up made it."""
    given = f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} {SUITE_JVM}".strip()
    archive = spark_cds.ensure_archive()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_SUBMIT_OPTS", spark_cds.submit_opts(archive, given))
        if archive is None:
            patch.setenv("ADDON_OKRS_SPARK_CLASS_ARCHIVE", "false")
        yield


@pytest.fixture(scope="session", autouse=True)
def small_spark_for_launched_runs() -> Iterator[None]:
    """The runs the suite launches (`dagster dev`, the CLI, `dg`) inherit the tests' small
    Spark (2 GB, few shuffle partitions, no UI) instead of local mode's machine-sized
    defaults: two or three of them run at once on two cores. A test that sets
    ADDON_OKRS_SPARK_CONF for its child sets it over this."""
    with pytest.MonkeyPatch.context() as patch:
        if "ADDON_OKRS_SPARK_CONF" not in os.environ:
            conf = ",".join(f"{k}={v}" for k, v in small_spark().items())
            patch.setenv("ADDON_OKRS_SPARK_CONF", conf)
        yield


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto S3 server for the test process (a bucket per consumer); its endpoint."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One Spark session for the whole test process; the pipeline's resource reuses it."""
    session = local_spark()
    yield session
    session.stop()
