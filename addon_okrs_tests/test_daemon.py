"""The real Dagster daemon and webserver (`dagster dev`): a day's inputs arrive, the sensor
starts its run, the output day appears; two runs of one day never overlap."""

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

import pytest

from addon_okrs.generate import generate_day
from addon_okrs_tests.servers import BIN, free_port, stop, wait_for_http

PROJECT = Path(__file__).resolve().parents[1]
LOCATION = "addon_okrs.definitions"
pytestmark = pytest.mark.slow


@dataclass
class DagsterDev:
    url: str
    sources: Path
    output: Path

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
        while time.monotonic() < deadline:
            runs = self.runs(tags)
            if len(runs) >= count and all(
                r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs
            ):
                return runs
            time.sleep(2)
        raise TimeoutError(
            f"runs tagged {tags} did not finish in {timeout:.0f}s: {self.runs(tags)}"
        )


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    base = tmp_path_factory.mktemp("dagster_dev")
    home, sources, output = base / "home", base / "sources", base / "output"
    home.mkdir()
    shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ADDON_OKRS_SOURCE_ROOT": sources.as_uri(),
        "ADDON_OKRS_OUTPUT_ROOT": output.as_uri(),
        "ADDON_OKRS_SENSOR_INTERVAL_SECONDS": "5",
        "ADDON_OKRS_LOOKBACK_DAYS": "3",
    }
    with (base / "dagster-dev.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", process, timeout=120)
        yield DagsterDev(f"http://127.0.0.1:{port}", sources, output)
    finally:
        stop(process)


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
    assert dagster_dev.runs({"dagster/sensor_name": "upstream_arrival_sensor"}) == []

    generate_day(dagster_dev.sources.as_uri(), yesterday, clients=2000, seed=5, samples=4)

    [run] = dagster_dev.wait_for_runs(
        {"dagster/sensor_name": "upstream_arrival_sensor"}, 1, timeout=240
    )
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/partition", "value": yesterday} in run["tags"]
    output_day = dagster_dev.output / "addons/agg/v1" / f"submission_date_s3={yesterday}"
    assert (output_day / "_SUCCESS").exists()
    assert len(list(output_day.glob("part-*.parquet"))) == 1


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
