"""The real Dagster daemon and webserver (`dagster dev`): a day's inputs arrive, the sensor
starts its run and the output day appears; the sensor's cursor survives a restart; a backfill
launched as the UI launches it is one run; two runs of one day never overlap."""

import datetime as dt
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from addon_okrs.definitions import all_assets, build_resources
from addon_okrs.generate import generate_day, generate_days
from addon_okrs.resources.spark import SparkResource
from addon_okrs_tests.helpers import BUILT, day_rows
from addon_okrs_tests.servers import BIN, free_port, stop, wait_for_http

PROJECT = Path(__file__).resolve().parents[1]
LOCATION = "addon_okrs.definitions"
SENSOR_RUNS = {"dagster/sensor_name": "upstream_arrival_sensor"}
pytestmark = pytest.mark.slow


@dataclass
class DagsterDev:
    """`dagster dev` (webserver + daemon) on a free loopback port, restartable on its home."""

    base: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    @property
    def sources(self) -> Path:
        return self.base / "sources"

    @property
    def output(self) -> Path:
        return self.base / "output"

    def start(self) -> None:
        home = self.base / "home"
        if not home.exists():
            home.mkdir()
            shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        port = free_port()
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ADDON_OKRS_SOURCE_ROOT": self.sources.as_uri(),
            "ADDON_OKRS_OUTPUT_ROOT": self.output.as_uri(),
            "ADDON_OKRS_SENSOR_INTERVAL_SECONDS": "5",
            "ADDON_OKRS_LOOKBACK_DAYS": "3",
        }
        command = ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
        with (self.base / "dagster-dev.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster"), *command],
                cwd=PROJECT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{self.url}/server_info", self.process, timeout=120)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def runs(self, tags: dict[str, str]) -> list[dict[str, Any]]:
        query = """query($tags: [ExecutionTag!]) {
          runsOrError(filter: {tags: $tags}) { ... on Runs { results {
            runId status startTime endTime tags { key value } } } } }"""
        tag_list = [{"key": k, "value": v} for k, v in tags.items()]
        return self.graphql(query, {"tags": tag_list})["runsOrError"]["results"]

    def wait_for_runs(
        self, tags: dict[str, str], count: int, timeout: float
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        finished = ("SUCCESS", "FAILURE", "CANCELED")
        while time.monotonic() < deadline:
            runs = self.runs(tags)
            if len(runs) >= count and all(r["status"] in finished for r in runs):
                return runs
            time.sleep(2)
        raise TimeoutError(
            f"runs tagged {tags} did not finish in {timeout:.0f}s: {self.runs(tags)}"
        )


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    server = DagsterDev(tmp_path_factory.mktemp("dagster_dev"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_arriving_inputs_start_the_days_run_through_the_sensor(dagster_dev: DagsterDev) -> None:
    query = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
        ... on Sensor { sensorState { status } } } }"""
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "sensorName": "upstream_arrival_sensor",
    }
    sensor = dagster_dev.graphql(query, {"selector": selector})["sensorOrError"]
    assert sensor["sensorState"]["status"] == "RUNNING"
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y%m%d")
    assert dagster_dev.runs(SENSOR_RUNS) == []

    generate_day(dagster_dev.sources.as_uri(), yesterday, clients=2000, seed=5, samples=4)

    [run] = dagster_dev.wait_for_runs(SENSOR_RUNS, 1, timeout=240)
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/partition", "value": yesterday} in run["tags"]
    output_day = dagster_dev.output / "addons/agg/v1" / f"submission_date_s3={yesterday}"
    assert (output_day / "_SUCCESS").exists()
    assert len(list(output_day.glob("part-*.parquet"))) == 1


def test_the_sensor_cursor_survives_a_restart(dagster_dev: DagsterDev) -> None:
    before = dagster_dev.wait_for_runs(SENSOR_RUNS, 1, timeout=240)

    dagster_dev.stop()
    dagster_dev.start()
    time.sleep(20)  # four sensor intervals

    assert [r["runId"] for r in dagster_dev.runs(SENSOR_RUNS)] == [r["runId"] for r in before]


def test_a_backfill_launched_as_the_ui_does_is_one_run_with_single_day_results(
    spark: SparkSession, dagster_dev: DagsterDev, tmp_path: Path
) -> None:
    days = ["20170601", "20170602", "20170603"]
    generate_days(dagster_dev.sources.as_uri(), days[0], 3, clients=1500, seed=8, samples=2)
    launch = """mutation($params: LaunchBackfillParams!) {
        launchPartitionBackfill(backfillParams: $params) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
    selection = [{"path": [name]} for name in BUILT]
    params = {"partitionNames": days, "assetSelection": selection, "fromFailure": False}

    answer = dagster_dev.graphql(launch, {"params": params})["launchPartitionBackfill"]

    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    [run] = dagster_dev.wait_for_runs({"dagster/backfill": answer["backfillId"]}, 1, timeout=300)
    assert run["status"] == "SUCCESS"
    alone = tmp_path / "alone"
    resources = build_resources(
        SparkResource.for_tests(),
        dagster_dev.sources.as_uri(),
        alone.as_uri(),
        (alone / "intermediate").as_uri(),
    )
    for day in days:
        assert dg.materialize(all_assets, resources=resources, partition_key=day).success
        rows = day_rows(dagster_dev.output / "addons/agg/v1", day)
        assert len(rows) > 1000
        assert rows == day_rows(alone / "addons/agg/v1", day)


def test_two_runs_of_the_same_day_never_overlap(dagster_dev: DagsterDev) -> None:
    day = "20170501"
    generate_day(dagster_dev.sources.as_uri(), day, clients=1000, seed=6, samples=2)
    launch = """mutation($params: ExecutionParams!) {
        launchPartitionedRun: launchRun(executionParams: $params) {
        __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": "addon_aggregates_daily",
        },
        "executionMetadata": {
            "tags": [
                {"key": "dagster/partition", "value": day},
                {"key": "test", "value": "overlap"},
            ]
        },
    }

    for _ in range(2):
        answer = dagster_dev.graphql(launch, {"params": params})["launchPartitionedRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer

    first, second = sorted(
        dagster_dev.wait_for_runs({"test": "overlap"}, 2, timeout=300), key=lambda r: r["startTime"]
    )
    assert (first["status"], second["status"]) == ("SUCCESS", "SUCCESS")
    assert second["startTime"] >= first["endTime"]
