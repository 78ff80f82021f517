"""`dagster dev` (webserver and daemon) as the tests and the screenshot script run it: a
temporary DAGSTER_HOME with one of the project's instance files (deploy/dagster.yaml unless
told), a free loopback port, stopped by its own process id; plus GraphQL over plain HTTP, as
the UI talks to the webserver."""

import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import psutil

from harness.servers import BIN, child_env, serve_on_a_free_port, stop

PROJECT = Path(__file__).resolve().parents[1]
# How often a wait asks the webserver again: a GraphQL query costs it a few milliseconds.
POLL_SECONDS = 0.5


def stop_all(process: subprocess.Popen[bytes]) -> None:
    """Stop a server and everything under it. Run workers of unfinished runs outlive the
    server that launched them (as they outlive a daemon restart, by design), and so do their
    code servers: they are killed too, so that no test leaves a run behind."""
    try:
        started = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    stop(process)
    for child in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


@dataclass
class DagsterDev:
    """`dagster dev` (webserver + daemon) on a free loopback port, restartable on its home."""

    base: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    instance_file: Path = PROJECT / "deploy" / "dagster.yaml"

    @property
    def home(self) -> Path:
        return self.base / "home"

    @property
    def sources(self) -> Path:
        return self.base / "sources"

    @property
    def output(self) -> Path:
        return self.base / "output"

    def child_env(self) -> dict[str, str]:
        """The environment of the servers: the home (with the instance file), the roots."""
        if not self.home.exists():
            self.home.mkdir()
            shutil.copy(self.instance_file, self.home / "dagster.yaml")
        return child_env(
            **{
                "DAGSTER_HOME": str(self.home),
                "ADDON_OKRS_SOURCE_ROOT": self.sources.as_uri(),
                "ADDON_OKRS_OUTPUT_ROOT": self.output.as_uri(),
                "ADDON_OKRS_SENSOR_INTERVAL_SECONDS": "5",
                "ADDON_OKRS_LOOKBACK_DAYS": "3",
                **self.env,  # over the above
            }
        )

    def spawn(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        with (self.base / log_name).open("ab") as log:
            return subprocess.Popen(
                command,
                cwd=PROJECT,
                env=self.child_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self) -> None:
        def launch(port: int) -> subprocess.Popen[bytes]:
            command = ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
            return self.spawn([str(BIN / "dagster"), *command], "dagster-dev.log")

        self.process, self.url = serve_on_a_free_port(launch, "/server_info")

    def stop(self) -> None:
        """Stop dagster dev and everything it started (see stop_all)."""
        if self.process is not None:
            stop_all(self.process)
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
            runId status startTime endTime tags { key value } assetSelection { path } } } } }"""
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
            time.sleep(POLL_SECONDS)
        raise TimeoutError(
            f"runs tagged {tags} did not finish in {timeout:.0f}s: {self.runs(tags)}"
        )


@dataclass
class DagsterDeployment(DagsterDev):
    """The webserver and the daemon as a deployment runs them, two processes
    (`dagster-webserver`, `dagster-daemon run`), so that the daemon can die and come back on
    its own."""

    daemon: subprocess.Popen[bytes] | None = None
    orphans: list[psutil.Process] = field(default_factory=list)  # a killed daemon's children

    def start(self) -> None:
        def launch(port: int) -> subprocess.Popen[bytes]:
            command = ["-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
            return self.spawn([str(BIN / "dagster-webserver"), *command], "webserver.log")

        self.start_daemon()
        self.process, self.url = serve_on_a_free_port(launch, "/server_info")

    def start_daemon(self) -> None:
        command = [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]
        self.daemon = self.spawn(command, "daemon.log")

    def kill_daemon(self) -> None:
        """SIGKILL the daemon process alone, as a crash would: the code server it started,
        and the runs that one launched, carry on."""
        assert self.daemon is not None
        self.orphans += psutil.Process(self.daemon.pid).children(recursive=True)
        self.daemon.kill()
        self.daemon.wait()
        self.daemon = None

    def stop(self) -> None:
        if self.daemon is not None:
            stop_all(self.daemon)
            self.daemon = None
        super().stop()
        for orphan in self.orphans:
            with contextlib.suppress(psutil.NoSuchProcess):
                orphan.kill()
        self.orphans = []


LOCATION = "addon_okrs.definitions"
REPOSITORY = "__repository__"

LAUNCH_RUN = """mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  } }"""

ASSET_CHECKS = """query($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
    assetChecksOrError { ... on AssetChecks { checks { name } } } } } }"""


def materialize_params(
    assets: list[str], checks: dict[str, list[str]], tags: dict[str, str]
) -> dict[str, Any]:
    """ExecutionParams as the UI's "Materialize" button builds them for an asset selection
    (its executionParamsForAssetJob): the implicit asset job, the assets and their checks,
    the partition as a tag."""
    return {
        "mode": "default",
        "runConfigData": "{}",
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "pipelineName": "__ASSET_JOB",
            "assetSelection": [{"path": [a]} for a in assets],
            "assetCheckSelection": [
                {"assetKey": {"path": [asset]}, "name": name}
                for asset, names in checks.items()
                for name in names
            ],
        },
    }


def materialize_day_as_the_ui_does(server: DagsterDev, assets: list[str], day: str) -> str:
    """Launch one day of `assets` (with their checks) the way the UI does; the run id."""
    checks: dict[str, list[str]] = {}
    for asset in assets:
        node = server.graphql(ASSET_CHECKS, {"path": [asset]})["assetNodeOrError"]
        names = [c["name"] for c in node["assetChecksOrError"]["checks"]]
        if names:
            checks[asset] = names
    params = materialize_params(assets, checks, {"dagster/partition": day})
    answer = server.graphql(LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id: str = answer["run"]["runId"]
    return run_id


def wait_for_run(server: DagsterDev, run_id: str, timeout: float) -> str:
    query = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: str = server.graphql(query, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f}s")


LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""


def launch_backfill(server: DagsterDev, assets: list[str], days: list[str]) -> str:
    """A backfill of `assets` over `days`, launched as the UI's dialog launches it; its id."""
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": [name]} for name in assets],
        "fromFailure": False,
    }
    answer = server.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    backfill_id: str = answer["backfillId"]
    return backfill_id


LAUNCH_JOB_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def launch_day_run(
    server: DagsterDev, day: str, tags: dict[str, str], job: str = "addon_aggregates_daily"
) -> str:
    """Launch `job` for one day, as the job page's launchpad does; the run id."""
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "jobName": job,
        },
        "executionMetadata": {
            "tags": [{"key": k, "value": v} for k, v in {"dagster/partition": day, **tags}.items()]
        },
    }
    answer = server.graphql(LAUNCH_JOB_RUN, {"params": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id: str = answer["run"]["runId"]
    return run_id


def run_worker(server: DagsterDev, run_id: str) -> psutil.Process:
    """The process executing run `run_id`, as its RUN_START event records it (the default run
    launcher starts it from the code server, with nothing of the run on its command line)."""
    with dg.DagsterInstance.from_config(str(server.home)) as instance:
        [start] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    assert start.dagster_event is not None and start.dagster_event.pid is not None
    return psutil.Process(start.dagster_event.pid)


BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""


def wait_for_backfill(server: DagsterDev, backfill_id: str, timeout: float) -> str:
    """The backfill's status once it is no longer in progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = server.graphql(BACKFILL_STATUS, {"id": backfill_id})
        status: str = answer["partitionBackfillOrError"]["status"]
        if status != "REQUESTED":
            return status
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"backfill {backfill_id} still in progress after {timeout:.0f}s")
