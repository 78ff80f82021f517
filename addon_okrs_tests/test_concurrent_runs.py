"""Runs at once on one output root, under the real daemon and webserver (`dagster dev`) with the
production instance (deploy/dagster-production.yaml: PostgreSQL on loopback, three runs at a
time): three days at once; a run frozen mid-write while another day's run of the same tables
completes; a second writer of a day that a live run holds. Each day is compared with the same
day built by a run on its own (consecutive days by one run)."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import psutil
import pytest
from pyspark.sql import SparkSession

from addon_okrs.defs.graph import built_asset_names
from addon_okrs.storage.catalog import ADDON_AGGREGATES, TABLES
from addon_okrs.tools.generate import generate_day
from addon_okrs.tools.in_process import materialize_days
from addon_okrs_tests.helpers import day_rows
from harness.dagster_dev import (
    PROJECT,
    DagsterDeployment,
    DagsterDev,
    launch_backfill,
    launch_day_run,
    run_worker,
    wait_for_backfill,
    wait_for_run,
)
from harness.postgres import postgres_server
from harness.servers import child_env, materialize_command
from harness.settings import local_settings, local_table

pytestmark = [pytest.mark.postgres, pytest.mark.dagster, pytest.mark.process]
PRODUCTION = Path(__file__).resolve().parents[1] / "deploy" / "dagster-production.yaml"
THREE_DAYS = ["20170610", "20170611", "20170612"]
FROZEN_DAY, OTHER_DAY = "20170613", "20170614"
HELD_DAY = "20170615"
BACKFILL_DAYS = ["20170620", "20170621"]
# The backfill's assets: all but the report, whose days a backfill extends by 89 (test_ui.py).
BACKFILLED = [name for name in built_asset_names if name != "addon_okr_report"]
BUILT_TABLES = [name for name, spec in TABLES.items() if not spec.is_source]


@contextmanager
def instance_database(url: str) -> Iterator[None]:
    """DAGSTER_POSTGRES_URL set in this process too, for its own reads of the instance."""
    previous = os.environ.get("DAGSTER_POSTGRES_URL")
    os.environ["DAGSTER_POSTGRES_URL"] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_POSTGRES_URL", None)
        else:
            os.environ["DAGSTER_POSTGRES_URL"] = previous


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    base = tmp_path_factory.mktemp("production")
    with postgres_server() as url, instance_database(url):
        server = DagsterDev(base, env={"DAGSTER_POSTGRES_URL": url}, instance_file=PRODUCTION)
        for seed, day in enumerate(THREE_DAYS):
            generate_day(server.sources.as_uri(), day, clients=3000, seed=40 + seed, samples=2)
        generate_day(server.sources.as_uri(), FROZEN_DAY, clients=3000, seed=50, samples=2)
        generate_day(server.sources.as_uri(), OTHER_DAY, clients=2000, seed=51, samples=2)
        generate_day(server.sources.as_uri(), HELD_DAY, clients=3000, seed=52, samples=2)
        try:
            server.start()
            yield server
        finally:
            server.stop()


def tables_of(output: Path, day: str) -> dict[str, list[tuple[object, ...]]]:
    """Every built table's rows of `day`."""
    return {name: day_rows(local_table(output, name), day) for name in BUILT_TABLES}


def built_alone(root: Path, sources: Path, first: str, last: str | None = None) -> Path:
    """Days `first`..`last` built under `root` by one run on its own (in this process)."""
    assert materialize_days(local_settings(sources, root), first, last or first).success
    return root


def leftovers(output: Path) -> list[str]:
    """Whatever a writer leaves behind outside the day folders: staged or moved-aside days,
    and leases (the lease folders' lock files aside)."""
    found = []
    for folder in output.rglob("*"):
        if folder.name in ("_staging", "_replaced"):
            found += [str(p.relative_to(output)) for p in folder.iterdir()]
        if folder.name == "_leases":
            found += [str(p.relative_to(output)) for p in folder.iterdir() if p.name[0] != "."]
    return sorted(found)


def step_retries(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The steps of a run that were retried."""
    return [
        str(e.dagster_event.step_key)
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
        if e.dagster_event is not None
    ]


def run_record(instance: dg.DagsterInstance, run_id: str) -> dg.RunRecord:
    record = instance.get_run_record_by_id(run_id)
    assert record is not None
    return record


def started_worker(server: DagsterDev, run_id: str, timeout: float) -> psutil.Process:
    """The process of run `run_id`, once it has started."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return run_worker(server, run_id)
        except ValueError:  # no RUN_START event yet
            assert time.monotonic() < deadline, f"run {run_id} never started"
            time.sleep(0.1)


def freeze(worker: psutil.Process) -> list[psutil.Process]:
    """SIGSTOP a run's worker and every process under it (its Spark driver's JVM)."""
    processes = [worker, *worker.children(recursive=True)]
    for process in processes:
        with suppress(psutil.NoSuchProcess):  # a short-lived child (Hadoop's chmod) is gone
            process.send_signal(signal.SIGSTOP)
    return processes


def thaw(processes: list[psutil.Process]) -> None:
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGCONT)


def launch_and_freeze_mid_write(
    server: DagsterDev, day: str, tags: dict[str, str]
) -> tuple[str, list[psutil.Process]]:
    """A run of `day`, frozen the moment its write of count_by_client_day is under way (its
    staging there holds anything: from the write's start to the day's publication); its id
    and its frozen processes. The worker is found first, so that nothing slower than a
    directory listing stands between what is seen and the freeze."""
    run_id = launch_day_run(server, day, tags)
    worker = started_worker(server, run_id, timeout=300)
    wait_for_staged_files(local_table(server.output, "count_by_client_day"), run_id, timeout=300)
    return run_id, freeze(worker)


def wait_for_staged_files(table: Path, run_id: str, timeout: float) -> None:
    """Until the staging of run `run_id` under `table` holds anything."""
    deadline = time.monotonic() + timeout
    staging = table / "_staging" / run_id
    while not (staging.is_dir() and any(staging.iterdir())):
        assert time.monotonic() < deadline, f"run {run_id} never wrote to {table}"
        time.sleep(0.005)


def test_three_runs_of_different_days_at_once_each_equal_the_day_built_alone(
    production: DagsterDev, spark: SparkSession, tmp_path: Path
) -> None:
    run_ids = [launch_day_run(production, day, {"test": "three"}) for day in THREE_DAYS]

    statuses = [wait_for_run(production, run_id, timeout=600) for run_id in run_ids]

    assert statuses == ["SUCCESS"] * 3
    with dg.DagsterInstance.from_config(str(production.home)) as instance:
        records = [run_record(instance, run_id) for run_id in run_ids]
        # They did run at once: one instant inside all three.
        assert max(r.start_time or 0 for r in records) < min(r.end_time or 0 for r in records)
        assert [step_retries(instance, run_id) for run_id in run_ids] == [[], [], []]
    assert leftovers(production.output) == []
    alone = built_alone(tmp_path, production.sources, THREE_DAYS[0], THREE_DAYS[-1])
    for day in THREE_DAYS:
        assert len(day_rows(local_table(alone, ADDON_AGGREGATES.name), day)) > 2000
        assert tables_of(production.output, day) == tables_of(alone, day)


def test_a_run_frozen_mid_write_survives_another_days_run_of_the_same_tables(
    production: DagsterDev, spark: SparkSession, tmp_path: Path
) -> None:
    count_by_client_day = local_table(production.output, "count_by_client_day")
    frozen_run, frozen = launch_and_freeze_mid_write(production, FROZEN_DAY, {"test": "frozen"})
    try:
        staged = sorted((count_by_client_day / "_staging" / frozen_run).rglob("*"))
        other_run = launch_day_run(production, OTHER_DAY, {"test": "frozen"})
        assert wait_for_run(production, other_run, timeout=600) == "SUCCESS"
        # The other run wrote the same table and left the frozen run's staging alone.
        assert sorted((count_by_client_day / "_staging" / frozen_run).rglob("*")) == staged
    finally:
        thaw(frozen)

    assert wait_for_run(production, frozen_run, timeout=600) == "SUCCESS"
    with dg.DagsterInstance.from_config(str(production.home)) as instance:
        assert step_retries(instance, frozen_run) == []
        assert step_retries(instance, other_run) == []
    assert leftovers(production.output) == []
    alone = built_alone(tmp_path, production.sources, FROZEN_DAY, OTHER_DAY)
    for day in (FROZEN_DAY, OTHER_DAY):
        assert tables_of(production.output, day) == tables_of(alone, day)


def test_a_second_writer_of_a_day_a_live_run_holds_fails_at_once_naming_it(
    production: DagsterDev, spark: SparkSession, tmp_path: Path
) -> None:
    # The holder stays mid-write while the second writer tries.
    holder, frozen = launch_and_freeze_mid_write(production, HELD_DAY, {"test": "held"})
    try:
        env = child_env(
            DAGSTER_HOME=str(tmp_path),
            ADDON_OKRS_SOURCE_ROOT=production.sources.as_uri(),
            ADDON_OKRS_OUTPUT_ROOT=production.output.as_uri(),
        )
        (tmp_path / "dagster.yaml").touch()
        second = subprocess.run(
            materialize_command(HELD_DAY),
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        thaw(frozen)

    output = second.stdout + second.stderr
    (tmp_path / "second-writer.log").write_text(output)
    assert second.returncode != 0
    assert (
        f"table count_by_client_day, submission_date_s3={HELD_DAY}: being written by run "
        f"{holder} " in output
    )
    assert "wait for that run to finish" in output
    assert "STEP_UP_FOR_RETRY" not in output
    assert wait_for_run(production, holder, timeout=600) == "SUCCESS"
    assert leftovers(production.output) == []
    # The published day is the holder's whole output, the same as the day built alone.
    alone = built_alone(tmp_path / "alone", production.sources, HELD_DAY)
    assert tables_of(production.output, HELD_DAY) == tables_of(alone, HELD_DAY)


# Its own unit under -n: its deployment and PostgreSQL are its own.
@pytest.mark.xdist_group("daemon-kill")
def test_the_daemon_killed_mid_backfill_and_restarted_completes_it_every_day_once(
    tmp_path: Path,
) -> None:
    deployment = DagsterDeployment(
        tmp_path,
        env={"ADDON_OKRS_BACKFILL_DAYS_PER_RUN": "1"},
        instance_file=PRODUCTION,
    )
    for seed, day in enumerate(BACKFILL_DAYS):
        generate_day(deployment.sources.as_uri(), day, clients=2000, seed=60 + seed, samples=2)
    backfill_runs = {}
    with postgres_server() as url, instance_database(url):
        deployment.env["DAGSTER_POSTGRES_URL"] = url
        try:
            deployment.start()
            backfill_id = launch_backfill(deployment, BACKFILLED, BACKFILL_DAYS)
            backfill_runs = {"dagster/backfill": backfill_id}
            deadline = time.monotonic() + 300
            while not any(r["status"] == "STARTED" for r in deployment.runs(backfill_runs)):
                assert time.monotonic() < deadline, "no run of the backfill started"
                time.sleep(0.5)

            deployment.kill_daemon()
            at_the_kill = deployment.runs(backfill_runs)
            time.sleep(10)  # the daemon is down: no run is dequeued or launched meanwhile
            assert {r["runId"] for r in deployment.runs(backfill_runs)} == {
                r["runId"] for r in at_the_kill
            }
            deployment.start_daemon()
            status = wait_for_backfill(deployment, backfill_id, timeout=900)
            runs = deployment.runs(backfill_runs)
            with dg.DagsterInstance.from_config(str(deployment.home)) as instance:
                materialized = {
                    name: sorted(
                        str(r.event_log_entry.dagster_event.partition)  # type: ignore[union-attr]
                        for r in instance.fetch_materializations(
                            dg.AssetKey(name), limit=100
                        ).records
                    )
                    for name in BACKFILLED
                }
        finally:
            deployment.stop()

    assert [r["status"] for r in at_the_kill].count("SUCCESS") < len(BACKFILL_DAYS)
    assert status == "COMPLETED_SUCCESS"
    assert sorted(r["status"] for r in runs) == ["SUCCESS"] * len(BACKFILL_DAYS)
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
    chunks = [
        (t["dagster/asset_partition_range_start"], t["dagster/asset_partition_range_end"])
        for t in tags
    ]
    assert sorted(chunks) == [(day, day) for day in BACKFILL_DAYS]  # a run a day, none twice
    assert materialized == {name: BACKFILL_DAYS for name in BACKFILLED}
    assert leftovers(deployment.output) == []
