"""The real Dagster daemon and webserver (`dagster dev`): a day's inputs arrive, the sensor
starts its run and the output day appears; the sensor's cursor survives a restart; two runs of
one day never overlap. (Runs launched as the UI launches them: test_ui.py.)"""

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from addon_okrs.storage.catalog import ADDON_AGGREGATES, SOURCES
from addon_okrs.tools.generate import generate_day
from harness.dagster_dev import DagsterDev

LOCATION = "addon_okrs.definitions"
SENSOR_RUNS = {"dagster/sensor_name": "upstream_arrival_sensor"}
pytestmark = pytest.mark.slow


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
    output_day = dagster_dev.output / ADDON_AGGREGATES.day_path(yesterday)
    assert (output_day / "_SUCCESS").exists()
    assert len(list(output_day.glob("part-*.parquet"))) == 1
    # The sources' arrival is in the instance: one materialization of each for that day, with
    # what the sensor saw (4 sample folders: 4 markers and 4 data files).
    query = """query($path: [String!]!, $day: String!) { assetNodeOrError(assetKey: {path: $path})
        { ... on AssetNode { assetMaterializations(partitions: [$day]) { partition
          metadataEntries { label ... on IntMetadataEntry { intValue } } } } } }"""
    for table in SOURCES:
        node = dagster_dev.graphql(query, {"path": [table.name], "day": yesterday})
        [seen] = node["assetNodeOrError"]["assetMaterializations"]
        values = {e["label"]: e.get("intValue") for e in seen["metadataEntries"]}
        files = list((dagster_dev.sources / table.day_path(yesterday)).rglob("*.parquet"))
        assert seen["partition"] == yesterday
        assert (values["markers"], values["data_files"], values["bytes"]) == (
            4,
            4,
            sum(f.stat().st_size for f in files),
        )


def test_the_sensor_cursor_survives_a_restart(dagster_dev: DagsterDev) -> None:
    before = dagster_dev.wait_for_runs(SENSOR_RUNS, 1, timeout=240)

    dagster_dev.stop()
    dagster_dev.start()
    time.sleep(20)  # four sensor intervals

    assert [r["runId"] for r in dagster_dev.runs(SENSOR_RUNS)] == [r["runId"] for r in before]


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
