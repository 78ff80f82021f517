"""A run killed (SIGKILL) in the middle of the final write loses nothing: the day keeps its
previous output, byte for byte, and once the dead run's lease expires the next writer of the
table, a run of another day, cleans up after it."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs.storage.catalog import ADDON_AGGREGATES
from addon_okrs.tools.generate import generate_day
from addon_okrs.tools.in_process import materialize_days
from harness.servers import child_env, materialize_command, reap
from harness.settings import local_settings

PROJECT = Path(__file__).resolve().parents[1]
DAY, NEXT_DAY = "20170501", "20170502"
LEASE_SECONDS = 6  # the killed run's: the next run may take its days over this long after
pytestmark = pytest.mark.process


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def lease_names(table: Path) -> list[str]:
    """The day leases held on a table (the folder's lock file, `.guard`, aside)."""
    return sorted(p.name for p in (table / "_leases").iterdir() if not p.name.startswith("."))


def test_sigkill_during_the_final_write_keeps_the_previous_day_and_another_days_run_cleans_up(
    spark: SparkSession, tmp_path: Path
) -> None:
    sources, output = tmp_path / "sources", tmp_path / "output"
    generate_day(sources.as_uri(), DAY, clients=3000, seed=4, samples=4)
    generate_day(sources.as_uri(), NEXT_DAY, clients=1000, seed=5, samples=2)
    settings = local_settings(sources, output)
    assert materialize_days(settings, DAY).success
    table = output / ADDON_AGGREGATES.path
    day = table / f"submission_date_s3={DAY}"
    previous = files(day)
    previous_rows = pq.read_table(day).num_rows

    env = child_env(
        DAGSTER_HOME=str(tmp_path),
        ADDON_OKRS_SOURCE_ROOT=sources.as_uri(),
        ADDON_OKRS_OUTPUT_ROOT=output.as_uri(),
        ADDON_OKRS_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    (tmp_path / "dagster.yaml").touch()
    command = materialize_command(DAY)
    with (tmp_path / "killed-run.log").open("wb") as log:
        run = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    staging = table / "_staging"
    deadline = time.monotonic() + 240
    try:
        # The run's staging of the day fills from the write's first task until the day is
        # published (the write, the cut to the day's file count, the audit): the run is
        # killed the moment anything is there.
        while not any(staging.glob("*/*")) if staging.exists() else True:
            assert run.poll() is None, "the run ended before its final write could be interrupted"
            assert time.monotonic() < deadline, "the final write never started"
            time.sleep(0.005)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        reap(run)

    assert run.returncode == -signal.SIGKILL
    assert files(day) == previous
    assert pq.read_table(day).num_rows == previous_rows
    assert any(staging.iterdir())  # the killed run's leftovers, outside the readers' view
    assert lease_names(table) == [f"submission_date_s3={DAY}"]
    time.sleep(LEASE_SECONDS)  # the dead run renews nothing: its lease on the day expires

    assert materialize_days(settings, NEXT_DAY).success

    assert sorted(p.name for p in table.iterdir()) == [
        "_leases",
        f"submission_date_s3={DAY}",
        f"submission_date_s3={NEXT_DAY}",
    ]  # the dead run's staging is gone
    assert lease_names(table) == []  # the next run took the dead one's over, and released it
    assert files(day) == previous
