"""The real Dagster daemon and webserver (`dagster dev`): addon_aggregates not published by its
due hour fails its freshness policy; a day's inputs arrive, the sensor starts its run and the
output day appears (and the asset is fresh again); the sensor's cursor survives a restart; two
runs of one day never overlap. (Runs launched as the UI launches them: test_ui.py.)"""

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData

from addon_okrs.storage.catalog import ADDON_AGGREGATES, SOURCES
from addon_okrs.tools.generate import generate_day
from harness.dagster_dev import DagsterDev
from harness.ui_tour import asset_page, browser_page

LOCATION = "addon_okrs.definitions"
SENSOR_RUNS = {"dagster/sensor_name": "upstream_arrival_sensor"}
pytestmark = pytest.mark.dagster


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    # The freshness daemon evaluates every 5 s instead of 30.
    server = DagsterDev(
        tmp_path_factory.mktemp("dagster_dev"), env={"FRESHNESS_DAEMON_INTERVAL_SECONDS": "5"}
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


FRESHNESS = """query { assetNodeOrError(assetKey: {path: ["addon_aggregates"]}) {
    ... on AssetNode { freshnessStatusInfo { freshnessStatus
      freshnessStatusMetadata { lastMaterializedTimestamp } } } } }"""


def wait_for_freshness(server: DagsterDev, status: str, timeout: float) -> dict[str, object]:
    """The freshness of addon_aggregates once the daemon has evaluated it as `status`."""
    deadline = time.monotonic() + timeout
    while True:
        info = server.graphql(FRESHNESS)["assetNodeOrError"]["freshnessStatusInfo"]
        if info["freshnessStatus"] == status or time.monotonic() > deadline:
            return dict(info)
        time.sleep(1)


@pytest.fixture(scope="module")
def late(dagster_dev: DagsterDev) -> tuple[float, dict[str, object]]:
    """addon_aggregates' last materialization recorded 36 hours ago (before any run of this
    file publishes one), and its freshness once the daemon has evaluated it."""
    # Whatever the hour now, no day has been published since the start of the last due
    # window (00:00 to 12:00 UTC).
    long_ago = time.time() - 36 * 3600
    with dg.DagsterInstance.from_config(str(dagster_dev.base / "home")) as instance:
        instance.report_dagster_event(
            DagsterEvent(
                event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization("addon_aggregates", partition="20170430")
                ),
                job_name="",  # as a runless event: no run, no job
            ),
            run_id="",
            timestamp=long_ago,
        )
    return long_ago, wait_for_freshness(dagster_dev, "DEGRADED", timeout=60)


@pytest.fixture(scope="module")
def sensed(dagster_dev: DagsterDev, late: tuple[float, dict[str, object]]) -> tuple[str, dict]:
    """Yesterday's inputs arrived (after the freshness check above), and the run the arrival
    sensor started for them, once finished: the day and the run."""
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
    return yesterday, run


@pytest.mark.ui
def test_addon_aggregates_last_published_before_its_due_window_fails_its_freshness_policy(
    dagster_dev: DagsterDev, late: tuple[float, dict[str, object]], tmp_path: Path
) -> None:
    long_ago, info = late

    assert info == {
        "freshnessStatus": "DEGRADED",  # the UI: "Freshness policy failed"
        "freshnessStatusMetadata": {"lastMaterializedTimestamp": long_ago},
    }
    with browser_page() as page:
        seen = asset_page(page, dagster_dev.url, "addon_aggregates", tmp_path / "asset.png")
    lines = seen.text.split("\n")
    # The status summary at the top, and the policy's own section in the page.
    assert lines[lines.index("Freshness policy") + 1] == "Failed"
    start = len(lines) - 1 - lines[::-1].index("Freshness policy")
    assert lines[start : start + 5] == [
        "Freshness policy",
        "Failed",
        "Last materialized 36 hours ago",
        "Deadline: At 12:00 PM UTC",
        "Fresh if materialized no earlier than 12 hours before each deadline.",
    ]


def test_arriving_inputs_start_the_days_run_through_the_sensor(
    dagster_dev: DagsterDev, sensed: tuple[str, dict]
) -> None:
    yesterday, run = sensed

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


def test_the_sensors_run_makes_addon_aggregates_fresh_again(
    dagster_dev: DagsterDev, sensed: tuple[str, dict]
) -> None:
    _, run = sensed

    info = wait_for_freshness(dagster_dev, "HEALTHY", timeout=60)

    assert info["freshnessStatus"] == "HEALTHY"
    metadata = info["freshnessStatusMetadata"]
    assert isinstance(metadata, dict)
    assert run["startTime"] < metadata["lastMaterializedTimestamp"] < run["endTime"]


def test_the_sensor_cursor_survives_a_restart(
    dagster_dev: DagsterDev, sensed: tuple[str, dict]
) -> None:
    before = dagster_dev.runs(SENSOR_RUNS)

    dagster_dev.stop()
    restarted = time.time()
    dagster_dev.start()
    # Two ticks of the restarted daemon's sensor evaluated the same inputs.
    ticks: list[dict[str, object]] = []
    deadline = time.monotonic() + 120
    while len(ticks) < 2:
        assert time.monotonic() < deadline, (
            f"the sensor did not tick twice after the restart: {ticks}"
        )
        time.sleep(0.5)
        ticks = [t for t in sensor_ticks(dagster_dev) if float(str(t["timestamp"])) > restarted]
    assert {t["status"] for t in ticks} == {"SKIPPED"}

    assert [r["runId"] for r in dagster_dev.runs(SENSOR_RUNS)] == [r["runId"] for r in before]


SENSOR = {
    "repositoryLocationName": LOCATION,
    "repositoryName": "__repository__",
    "sensorName": "upstream_arrival_sensor",
}


def sensor_ticks(server: DagsterDev) -> list[dict[str, object]]:
    """The arrival sensor's finished ticks, newest first."""
    query = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
        ... on Sensor { sensorState { ticks(limit: 10) { timestamp status } } } } }"""
    state = server.graphql(query, {"selector": SENSOR})["sensorOrError"]["sensorState"]
    return [t for t in state["ticks"] if t["status"] != "STARTED"]


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
