"""The same code location on a real Spark standalone cluster and over Spark Connect, chosen by
environment variables only, each giving the same day as local mode: on the cluster, a run that
reads and writes S3 (SeaweedFS on loopback) with an executor killed in the middle of a stage;
over Connect, a run on local files with the in-process executor and one on S3 with a process
per step.

One cluster, one Connect server and one S3 server for the file, on loopback, started and
stopped by these tests. Runs go through `dagster asset materialize` in a fresh process, as a
user (or a deployment) runs them.
"""

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs.dataset.schema import DAY as DAY_COLUMN
from addon_okrs.defs.graph import built_asset_names
from addon_okrs.settings import Settings
from addon_okrs.storage.catalog import ADDON_AGGREGATES
from addon_okrs.storage.locations import S3Options
from addon_okrs.storage.s3a import connector_jars, s3a_conf
from addon_okrs.tools.generate import generate_days
from addon_okrs.tools.in_process import materialize_days
from addon_okrs_tests.helpers import day_rows, launched_step_processes
from harness.reference import reference_addon_aggregates
from harness.servers import (
    BIN,
    ConnectServer,
    S3Server,
    StandaloneCluster,
    child_env,
    get_json,
    loopback_env,
    materialize_command,
    reap,
    seaweedfs_server,
    spark_connect_server,
    spark_standalone_cluster,
    spark_ui_of,
)
from harness.settings import local_settings

pytestmark = [pytest.mark.cluster, pytest.mark.s3, pytest.mark.process]

DAY = "20170503"
CLIENTS = 3000
OUTPUT = ADDON_AGGREGATES.path
BUCKET = "telemetry"
SOURCE = f"s3a://{BUCKET}/src"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as running:
        running.client().create_bucket(Bucket=BUCKET)
        yield running


@pytest.fixture(scope="module")
def sources(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated day, written to the bucket; a local copy of its objects."""
    with s3.in_environment():
        generate_days(SOURCE, DAY, 1, CLIENTS, seed=11, samples=8,
                      s3=S3Options(s3.url, s3.region))  # fmt: skip
    return s3.download(BUCKET, "src/", tmp_path_factory.mktemp("cluster-sources"))


@pytest.fixture(scope="module")
def local_result(
    spark: SparkSession, sources: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[object, ...]]:
    """The day as local mode builds it (the test session's local Spark)."""
    out = tmp_path_factory.mktemp("cluster-local")
    result = materialize_days(local_settings(sources, out), DAY)
    assert result.success
    rows = day_rows(out / OUTPUT, DAY)
    assert len(rows) > 2000  # a real day, not an empty one
    return rows


def the_connector() -> str:
    """The S3 connector's jars (the set-up's), as a mirror or an image would name them."""
    return ",".join(connector_jars((), Settings.from_env().cache_folder() / "m2"))


@pytest.fixture(scope="module")
def cluster(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """Two workers of one core. Their executors find the S3 credentials as on a cloud host: in
    their own environment (the standard chain), not in Spark's settings."""
    base = tmp_path_factory.mktemp("cluster")
    with (
        s3.in_environment(),
        spark_standalone_cluster(base, workers=2, cores=1, memory="1g") as running,
    ):
        yield running


@pytest.fixture(scope="module")
def connect_server(
    s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectServer]:
    """A Connect server given the connector and the S3 settings at its start, as its operator
    would: a run sends only its roots."""
    conf = {"spark.jars": the_connector(), **s3a_conf(S3Options(s3.url, s3.region))}
    with (
        s3.in_environment(),
        spark_connect_server(tmp_path_factory.mktemp("connect"), conf=conf) as server,
    ):
        yield server


def run_env(
    base: Path, source_root: str, output_root: str, spark_env: dict[str, str]
) -> dict[str, str]:
    """A fresh DAGSTER_HOME under `base`, the roots given, Spark chosen by `spark_env`."""
    home = base / "dagster_home"
    home.mkdir(parents=True)
    env = {
        **loopback_env(),
        "DAGSTER_HOME": str(home),
        "ADDON_OKRS_SOURCE_ROOT": source_root,
        "ADDON_OKRS_OUTPUT_ROOT": output_root,
        **spark_env,
    }
    for unset in ("ADDON_OKRS_INTERMEDIATE_ROOT", "ADDON_OKRS_EXECUTOR", "ADDON_OKRS_SPARK_JARS"):
        if unset not in spark_env:
            env.pop(unset, None)
    return env


def on_s3(s3: S3Server, output: str, **spark_env: str) -> tuple[str, str, dict[str, str]]:
    """run_env's roots and settings for a run reading the bucket's sources and writing below
    `output` in it: the endpoint and the standard AWS variables."""
    return SOURCE, f"s3a://{BUCKET}/{output}", {**s3.env(), **spark_env}


def materialize_in_a_fresh_process(
    base: Path, source_root: str, output_root: str, spark_env: dict[str, str]
) -> str:
    """`dagster asset materialize` of every asset and check for DAY; its log."""
    env = run_env(base, source_root, output_root, spark_env)
    command = materialize_command(DAY)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    (base / "materialize.log").write_text(log)
    assert done.returncode == 0, log[-5000:]
    assert_every_step_succeeded(base / "dagster_home")
    return log


def assert_every_step_succeeded(home: Path) -> None:
    """From the run's event log (the processes' interleaved stdout can lose a line): every
    step succeeded at its first attempt."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        steps = {s.step_key: s.status.value for s in instance.get_run_step_stats(run.run_id)}
        retried = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert steps == {name: "SUCCESS" for name in built_asset_names}
    assert retried == []


def executors(driver_ui: str) -> list[dict[str, Any]]:
    """Every executor the running application has had (Spark's REST API on its driver)."""
    try:
        [app] = get_json(f"{driver_ui}/api/v1/applications")
        found: list[dict[str, Any]] = get_json(
            f"{driver_ui}/api/v1/applications/{app['id']}/allexecutors"
        )
    except (OSError, ValueError):
        return []  # the driver's UI is not up yet (or not yet answering JSON)
    return [e for e in found if e["id"] != "driver"]


def failed_tasks(driver_ui: str) -> int:
    """Tasks that failed so far in the running application, over all its stages."""
    try:
        [app] = get_json(f"{driver_ui}/api/v1/applications")
        stages = get_json(f"{driver_ui}/api/v1/applications/{app['id']}/stages")
    except (OSError, ValueError):
        return 0
    return sum(int(stage["numFailedTasks"]) for stage in stages)


def test_on_a_standalone_cluster_on_s3_an_executor_killed_mid_stage_costs_a_retry_not_the_result(
    s3: S3Server,
    cluster: StandaloneCluster,
    local_result: list[tuple[object, ...]],
    tmp_path: Path,
) -> None:
    finished_before = len(cluster.state()["completedapps"])
    # The connector named by the setting for a mirror or an image (here: the set-up's files).
    env = run_env(
        tmp_path / "run",
        *on_s3(
            s3,
            "cluster",
            ADDON_OKRS_SPARK_MASTER=cluster.master_url,
            ADDON_OKRS_SPARK_JARS=the_connector(),
            ADDON_OKRS_SPARK_CONF="spark.executor.memory=768m,"
            "spark.sql.shuffle.partitions=4,spark.ui.port=0",
        ),
    )
    with (tmp_path / "materialize.log").open("wb") as log:
        run = subprocess.Popen(
            materialize_command(DAY),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # An executor running a task is frozen (SIGSTOP); a second later the driver still
        # counts the task as running, so its end was never reported, and the frozen JVM
        # cannot report it now: SIGKILL it then, and a running task is lost for certain.
        # (Killed straight away, the task may have just finished: no task lost, seen in CI.)
        deadline = time.monotonic() + 300
        driver_ui = None
        while driver_ui is None:
            assert run.poll() is None, "the run ended before its driver's UI answered"
            assert time.monotonic() < deadline, "the run's driver UI never answered"
            driver_ui = spark_ui_of(run)
            time.sleep(0.2)
        killed = None
        while killed is None:
            assert run.poll() is None, "the run ended before an executor was killed"
            assert time.monotonic() < deadline, "no executor was ever frozen mid-task"
            busy = [e for e in executors(driver_ui) if e["isActive"] and e["activeTasks"]]
            if not busy:
                time.sleep(0.05)
                continue
            frozen, process = busy[0]["id"], cluster.executor_process(busy[0]["id"])
            process.suspend()
            time.sleep(1.0)
            still = {e["id"]: e["activeTasks"] for e in executors(driver_ui)}
            if still.get(frozen):
                running = still[frozen]
                process.send_signal(signal.SIGKILL)
                killed = frozen
            else:
                process.resume()
        # The driver sees it lost, with every task it was running failed (its stages'
        # count, whichever way Spark classes the loss: its log says "ExecutorLostFailure"
        # only when it blames the task, seen both ways), and a replacement starts.
        while True:
            seen = {e["id"]: e["isActive"] for e in executors(driver_ui)}
            failed = failed_tasks(driver_ui)
            if seen.get(killed) is False and sum(seen.values()) == 2 and failed:
                break
            assert time.monotonic() < deadline, f"after the kill: {seen}, {failed} failed"
            time.sleep(0.2)
        assert failed == running
        assert run.wait(timeout=600) == 0
    finally:
        reap(run)
    # The run was one application of this cluster, finished when its process ended.
    apps = cluster.wait_for_completed_apps(finished_before + 1, timeout=60)

    assert [(a["name"], a["state"]) for a in apps[finished_before:]] == [("addon_okrs", "FINISHED")]
    # The driver's own account: the killed executor's running task was lost, and run again.
    log = (tmp_path / "materialize.log").read_text()
    assert "Executing steps in process" in log  # one driver, shared by every step
    assert f"Lost executor {killed} on 127.0.0.1" in log
    assert_every_step_succeeded(tmp_path / "run" / "dagster_home")
    written = s3.download(BUCKET, f"cluster/{OUTPUT}/", tmp_path / "c")
    assert "_SUCCESS" in {p.name for p in (written / f"{DAY_COLUMN}={DAY}").iterdir()}
    assert day_rows(written, DAY) == local_result


def test_spark_connect_gives_the_local_result_in_one_process(
    sources: Path,
    local_result: list[tuple[object, ...]],
    connect_server: ConnectServer,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    log = materialize_in_a_fresh_process(
        tmp_path,
        sources.as_uri(),
        out.as_uri(),
        {"ADDON_OKRS_SPARK_REMOTE": connect_server.url, "ADDON_OKRS_EXECUTOR": "in_process"},
    )

    assert "Executing steps in process" in log
    assert "Launching subprocess" not in log
    assert day_rows(out / OUTPUT, DAY) == local_result


def test_over_connect_on_s3_each_step_is_a_process_of_its_own_and_the_day_equals_the_reference(
    s3: S3Server, sources: Path, connect_server: ConnectServer, tmp_path: Path
) -> None:
    jobs_before = connect_server.jobs()

    materialize_in_a_fresh_process(
        tmp_path, *on_s3(s3, "connect", ADDON_OKRS_SPARK_REMOTE=connect_server.url)
    )

    assert connect_server.jobs() > jobs_before  # the work ran on the server
    # A remote engine makes the executor multiprocess: each step its own process and session.
    assert launched_step_processes(tmp_path / "dagster_home") == sorted(built_asset_names)
    built = pq.read_table(
        s3.download(BUCKET, f"connect/{ADDON_AGGREGATES.day_path(DAY)}/", tmp_path / "s")
    )
    reference = reference_addon_aggregates(sources, [DAY])
    expected = reference.filter(
        reference[DAY_COLUMN].to_numpy(zero_copy_only=False) == DAY
    ).drop_columns([DAY_COLUMN])
    assert [(f.name, f.type) for f in built.schema] == [(f.name, f.type) for f in expected.schema]
    assert Counter(map(tuple, (r.values() for r in built.to_pylist()))) == Counter(
        map(tuple, (r.values() for r in expected.to_pylist()))
    )


def test_multiprocess_with_local_spark_is_refused_naming_the_settings() -> None:
    env = child_env(ADDON_OKRS_EXECUTOR="multiprocess")
    env.pop("ADDON_OKRS_SPARK_REMOTE", None)
    env.pop("ADDON_OKRS_SPARK_MASTER", None)
    done = subprocess.run(
        [str(BIN / "python"), "-c", "import addon_okrs.definitions"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "addon_okrs.settings.SettingsError: ADDON_OKRS_EXECUTOR=multiprocess with Spark "
        "in local mode (local[*]) would start one Spark per step, each unable to see the others' "
        "session. Use it with ADDON_OKRS_SPARK_REMOTE (Spark Connect) or a cluster "
        "ADDON_OKRS_SPARK_MASTER."
    )
