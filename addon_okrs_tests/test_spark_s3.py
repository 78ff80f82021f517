"""Spark reading and writing S3 through S3A, the whole graph, against a real S3 API on loopback:
SeaweedFS (`weed mini`), which refuses unknown keys, has no bucket until one is made, and does
conditional puts and multipart uploads as AWS does. Every run here is a fresh process started
with the documented settings only (roots, endpoint, the standard AWS variables)."""

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from addon_okrs.dataset.schema import DAY
from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDON_OKR_METRICS, INTERMEDIATES
from addon_okrs.storage.day_swap import WHOLE
from addon_okrs.storage.locations import S3Options
from addon_okrs.tools.generate import generate_day, generate_days
from addon_okrs.tools.in_process import materialize_days
from harness.dagster_dev import DagsterDev
from harness.reference import reference_addon_aggregates, reference_okr_metrics
from harness.servers import (
    BIN,
    S3Server,
    child_env,
    materialize_command,
    reap,
    seaweedfs_server,
)
from harness.settings import local_settings, small_spark

pytestmark = [pytest.mark.s3, pytest.mark.process]

BUCKET = "telemetry"
SOURCE = f"s3a://{BUCKET}/src"
DAYS = ["20170601", "20170602", "20170603"]
# The suite's small Spark (2 GB, few shuffle partitions, no UI), as every launched run has it.
SMALL_SPARK = ",".join(f"{k}={v}" for k, v in small_spark().items())
REPORT = "reports/addon_okrs"
SENSOR_RUNS = {"dagster/sensor_name": "upstream_arrival_sensor"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as running:
        running.client().create_bucket(Bucket=BUCKET)
        yield running


@pytest.fixture(scope="module")
def mirror(server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated source days, written to the bucket, and a local copy of those objects."""
    with server.in_environment():
        generate_days(SOURCE, DAYS[0], len(DAYS), clients=2000, seed=31, samples=3,
                      s3=S3Options(server.url, server.region))  # fmt: skip
    return download(server, "src/", tmp_path_factory.mktemp("mirror"))


def download(server: S3Server, prefix: str, into: Path) -> Path:
    """Every object under `prefix`, as files below `into`."""
    return server.download(BUCKET, prefix, into)


def objects(server: S3Server, prefix: str) -> dict[str, tuple[str, bytes]]:
    """Each object under `prefix`: its ETag and bytes."""
    client = server.client()
    return {
        item["Key"]: (
            item["ETag"],
            client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read(),
        )
        for item in server.listed(BUCKET, prefix, client)
    }


def s3_env(server: S3Server, home: Path, output: str, **extra: str) -> dict[str, str]:
    """A run's environment: the roots on S3, the endpoint and the standard AWS variables."""
    home.mkdir(parents=True, exist_ok=True)
    env = child_env(
        **server.env(),
        DAGSTER_HOME=str(home),
        ADDON_OKRS_SOURCE_ROOT=SOURCE,
        ADDON_OKRS_OUTPUT_ROOT=f"s3a://{BUCKET}/{output}",
        ADDON_OKRS_SPARK_MASTER="local[2]",
        ADDON_OKRS_SPARK_CONF=SMALL_SPARK,
        **extra,
    )
    for unset in ("ADDON_OKRS_INTERMEDIATE_ROOT", "ADDON_OKRS_EXECUTOR", "ADDON_OKRS_SPARK_JARS"):
        if unset not in extra:
            env.pop(unset, None)
    # The suite's class archive is made for local runs without the connector on the class path,
    # which a driver with it cannot map: the run finds (or, the first, writes at its exit) the
    # archive of its own class path, as a local run on S3 does outside the suite.
    opts = env.get("SPARK_SUBMIT_OPTS", "").split()
    env["SPARK_SUBMIT_OPTS"] = " ".join(
        o for o in opts if not o.startswith("-XX:SharedArchiveFile")
    )
    return env


def run(command: list[str], env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    log.write_text(done.stdout + done.stderr)
    return done


def cli(*args: str) -> list[str]:
    return [str(BIN / "addon-okrs"), *args]


def rows(table: pa.Table) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r.values()) for r in table.to_pylist())


def schema(table: pa.Table) -> list[tuple[str, pa.DataType]]:
    return [(f.name, f.type) for f in table.schema]


def of_day(table: pa.Table, day: str) -> pa.Table:
    return table.filter(table[DAY].to_numpy(zero_copy_only=False) == day).drop_columns([DAY])


@pytest.fixture(scope="module")
def built(server: S3Server, mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Days 1..3 built on S3 under out/ as one run by `addon-okrs materialize --to` (the
    tests below rebuild day 1 over it); a local copy of out/."""
    base = tmp_path_factory.mktemp("built")
    env = s3_env(server, base / "home", "out")
    a_range = run(cli("materialize", "--date", DAYS[0], "--to", DAYS[2]), env, base / "r.log")
    assert a_range.returncode == 0, a_range.stderr[-3000:]
    assert f"built {DAYS[0]}..{DAYS[2]} in run" in a_range.stdout
    return download(server, "out/", base / "out")


def test_every_asset_of_a_range_of_days_built_on_s3_equals_the_reference(
    spark: SparkSession, server: S3Server, mirror: Path, built: Path, tmp_path: Path
) -> None:
    # The same days built with local roots over a copy of the same source objects.
    local = tmp_path / "local"
    assert materialize_days(local_settings(mirror, local), DAYS[0], DAYS[2]).success

    days = DAYS[:3]
    reference = reference_addon_aggregates(mirror, days)
    okr_reference = reference_okr_metrics(built, days)
    for day in days:
        aggregates = pq.read_table(built / ADDON_AGGREGATES.day_path(day))
        assert schema(aggregates) == schema(of_day(reference, day))
        assert rows(aggregates) == rows(of_day(reference, day))
        assert aggregates.num_rows > 1500
        okrs = pq.read_table(built / ADDON_OKR_METRICS.day_path(day))
        assert schema(okrs) == schema(of_day(okr_reference, day))
        assert rows(okrs) == rows(of_day(okr_reference, day))
        for spec in INTERMEDIATES:
            on_s3 = pq.read_table(built / "intermediate" / spec.day_path(day))
            on_disk = pq.read_table(local / "intermediate" / spec.day_path(day))
            assert (schema(on_s3), rows(on_s3)) == (schema(on_disk), rows(on_disk)), spec.name
        report, local_report = built / REPORT / day, local / REPORT / day
        assert sorted(p.name for p in report.iterdir()) == ["index.html", "okrs.png"]
        html = (report / "index.html").read_text()
        local_html = (local_report / "index.html").read_text()
        assert html.replace(f"s3a://{BUCKET}/out", local.as_uri()) == local_html
    # Nothing left beside the days: no staging, no leases.
    left = [k for k in objects(server, "out/") if "/_staging/" in k or "/_replaced/" in k]
    assert left == []
    assert [k for k in objects(server, "out/") if "/_leases/" in k] == []


FAULTY_RUN = """
import sys
from pyspark.sql import functions as F
from addon_okrs.dataset import transforms
from addon_okrs.settings import Settings
from addon_okrs.tools.in_process import materialize_days
original = transforms.addon_aggregates
def duplicating(*frames):
    output = original(*frames)
    return output.unionByName(output.where(F.col("submission_date_s3") == sys.argv[2]).limit(3))
transforms.addon_aggregates = duplicating
sys.exit(0 if materialize_days(Settings.from_env(), sys.argv[1], sys.argv[2]).success else 1)
"""


def test_a_day_held_back_by_the_audit_on_s3_keeps_its_previous_objects(
    server: S3Server, built: Path, tmp_path: Path
) -> None:
    env = s3_env(server, tmp_path / "home", "out")
    table = f"out/{ADDON_AGGREGATES.path}"
    good, held = (f"{table}/{DAY}={d}/" for d in DAYS[:2])
    before = objects(server, table)

    faulty = run([str(BIN / "python"), "-c", FAULTY_RUN, DAYS[0], DAYS[1]], env, tmp_path / "f.log")

    assert faulty.returncode == 1
    log = faulty.stdout + faulty.stderr
    assert "addon_aggregates: 1 day(s) held back, not published" in log
    assert f"- {DAYS[1]}: grain_is_unique failed, 6 row(s) break the rule" in log
    after = objects(server, table)
    # The held day: the same objects, ETags and bytes; the good day of the run: new objects.
    assert {k: v for k, v in after.items() if k.startswith(held)} == {
        k: v for k, v in before.items() if k.startswith(held)
    }
    assert {k for k in after if k.startswith(good)} != {k for k in before if k.startswith(good)}
    assert sorted(k for k in after if "/_staging/" in k or "/_leases/" in k) == []


# A run of addon_aggregates alone (over the intermediates `built` left) whose swap stops for
# good right after its first object copy of the chosen move: into _replaced/ (the previous day
# partly aside, not yet recorded whole) or out of _staging/ (the previous day wholly aside and
# recorded, the new one partly in). It says so by creating the file named by argv[2], and the
# test kills it there: the point is reached every time, not when a poll happens to see it.
PAUSED_SWAP_RUN = """
import sys, time
from pathlib import Path
from addon_okrs.settings import Settings
from addon_okrs.storage import locations
from addon_okrs.tools.in_process import materialize_days
day, flag, moving = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
original = locations.Location.move_to
class PausingAfterFirstCopy:
    def __init__(self, fs):
        self.fs = fs
    def copy_file(self, source, target):
        self.fs.copy_file(source, target)
        flag.touch()
        time.sleep(3600)  # until killed
    def __getattr__(self, name):
        return getattr(self.fs, name)
def move_to(self, target, copied=None):
    aside = moving == "aside" and "/_replaced/" in target.path
    staged_in = moving == "in" and "/_staging/" in self.path
    if aside or staged_in:
        self = locations.Location(self.uri, PausingAfterFirstCopy(self.fs), self.path)
    return original(self, target, copied)
locations.Location.move_to = move_to
materialize_days(Settings.from_env(), day, selection="addon_aggregates")
"""


@pytest.mark.parametrize("moving", ["aside", "in"])
def test_a_run_killed_mid_swap_on_s3_leaves_the_previous_day_whole_once_recovered(
    moving: str,
    server: S3Server,
    built: Path,
    tmp_path: Path,
) -> None:
    lease = 6
    env = s3_env(server, tmp_path / "home", "out", ADDON_OKRS_LEASE_SECONDS=str(lease))
    table = f"out/{ADDON_AGGREGATES.path}"
    day = f"{table}/{DAY}={DAYS[0]}/"
    previous = objects(server, day)
    assert len(previous) >= 2  # a data file and the marker at least: one copy is a part
    paused = tmp_path / "paused"
    with (tmp_path / "killed.log").open("wb") as log:
        killed = subprocess.Popen(
            [str(BIN / "python"), "-c", PAUSED_SWAP_RUN, DAYS[0], str(paused), moving],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client, deadline = server.client(), time.monotonic() + 300

    def keys(prefix: str) -> list[str]:
        return [item["Key"] for item in server.listed(BUCKET, prefix, client)]

    try:
        while not paused.exists():
            assert killed.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the run never reached its swap"
            time.sleep(0.05)
        os.killpg(killed.pid, signal.SIGKILL)
    finally:
        reap(killed)
    replaced, staged = keys(f"{table}/_replaced/"), keys(f"{table}/_staging/")
    recorded = [k for k in replaced if k.endswith(WHOLE)]
    aside = [k for k in replaced if "/" + DAY in k and not k.endswith(WHOLE)]
    if moving == "aside":  # one object of the previous day aside, the day itself whole
        assert (len(aside), recorded) == (1, [])
        assert objects(server, day) == previous
    else:  # the previous day wholly aside and recorded, the new day's objects still staged
        assert (len(aside), len(recorded)) == (len(previous), 1)
        assert staged != []
    assert killed.returncode == -signal.SIGKILL
    time.sleep(lease)  # the dead run's lease expires

    # Cleaned up by the next run of the table (another day), or by `addon-okrs recover`.
    after = (
        cli("recover")
        if moving == "aside"
        else materialize_command(DAYS[2], select=ADDON_AGGREGATES.name)
    )
    following = run(after, env, tmp_path / "next.log")

    assert following.returncode == 0, following.stderr[-3000:]
    if moving == "aside":
        assert following.stdout.splitlines()[0].startswith(
            f"table {ADDON_AGGREGATES.name}: recovered "
        )
    # The previous day, whole: the same objects, byte for byte. (Not the same ETags: moved
    # back by CopyObject, an object first uploaded in parts gets the ETag of a single part.)
    assert {k: body for k, (_, body) in objects(server, day).items()} == {
        k: body for k, (_, body) in previous.items()
    }
    left = [k for k in objects(server, "out/") if "/_staging/" in k or "/_replaced/" in k]
    assert left == []
    assert [k for k in objects(server, "out/") if "/_leases/" in k] == []


@pytest.mark.parametrize(
    ("case", "extra", "expected"),
    [
        (
            "missing bucket",
            {"ADDON_OKRS_SOURCE_ROOT": "s3a://no-such-bucket/src"},
            "ADDON_OKRS_SOURCE_ROOT=s3a://no-such-bucket/src: bucket 'no-such-bucket' does not "
            "exist at the S3 endpoint {url} (ADDON_OKRS_S3_ENDPOINT_URL). Create it, or point "
            "ADDON_OKRS_SOURCE_ROOT at an existing bucket.",
        ),
        (
            "wrong credentials",
            {"AWS_SECRET_ACCESS_KEY": "not-the-secret"},
            "ADDON_OKRS_SOURCE_ROOT=s3a://telemetry/src: the S3 endpoint {url} "
            "(ADDON_OKRS_S3_ENDPOINT_URL) refused the credentials for bucket 'telemetry' (",
        ),
        (
            "unreachable endpoint",
            {"ADDON_OKRS_S3_ENDPOINT_URL": "http://127.0.0.1:9"},
            "ADDON_OKRS_SOURCE_ROOT=s3a://telemetry/src: the S3 endpoint http://127.0.0.1:9 "
            "(ADDON_OKRS_S3_ENDPOINT_URL) does not answer (",
        ),
        (
            "connector missing",
            {"ADDON_OKRS_SPARK_JARS": "/nowhere/hadoop-aws.jar"},
            "ADDON_OKRS_SOURCE_ROOT=s3a://telemetry/src, ADDON_OKRS_OUTPUT_ROOT=s3a://telemetry"
            "/out, ADDON_OKRS_INTERMEDIATE_ROOT=s3a://telemetry/out/intermediate: "
            "ADDON_OKRS_SPARK_JARS names /nowhere/hadoop-aws.jar, which is not a file",
        ),
    ],
)
def test_bad_s3_settings_fail_before_anything_is_written_naming_root_and_setting(
    server: S3Server, built: Path, tmp_path: Path, case: str, extra: dict[str, str], expected: str
) -> None:
    published = objects(server, "out/")
    env = {**s3_env(server, tmp_path / "home", "out"), **extra}

    failed = run(cli("materialize", "--date", DAYS[0]), env, tmp_path / "bad.log")

    assert failed.returncode == 1
    log = failed.stdout + failed.stderr
    assert expected.format(url=server.url) in log
    assert "RetryRequestedFromPolicy" not in log and "STEP_UP_FOR_RETRY" not in log
    assert objects(server, "out/") == published  # every object as it was


# Its own unit under -n (a SeaweedFS of its own): it needs none of the file's runs.
@pytest.mark.dagster
@pytest.mark.xdist_group("s3-arrival")
def test_the_arrival_sensor_under_the_daemon_starts_a_run_that_reads_and_writes_s3(
    server: S3Server, tmp_path: Path
) -> None:
    roots = {
        "ADDON_OKRS_SOURCE_ROOT": f"s3a://{BUCKET}/arrivals",
        "ADDON_OKRS_OUTPUT_ROOT": f"s3://{BUCKET}/sensed",  # s3:// read through S3A
        "ADDON_OKRS_SPARK_CONF": SMALL_SPARK,
    }
    (tmp_path / "dev").mkdir()
    dev = DagsterDev(tmp_path / "dev", env={**server.env(), **roots})
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y%m%d")
    try:
        dev.start()
        assert dev.runs(SENSOR_RUNS) == []
        with server.in_environment():
            generate_day(roots["ADDON_OKRS_SOURCE_ROOT"], yesterday, clients=1500, seed=8,
                         samples=3, s3=S3Options(server.url, server.region))  # fmt: skip

        [started] = dev.wait_for_runs(SENSOR_RUNS, 1, timeout=300)
    finally:
        dev.stop()

    assert started["status"] == "SUCCESS"
    assert {"key": "dagster/partition", "value": yesterday} in started["tags"]
    sources = download(server, "arrivals/", tmp_path / "arrivals")
    day = ADDON_AGGREGATES.day_path(yesterday)
    assert f"sensed/{day}/_SUCCESS" in objects(server, f"sensed/{day}/")
    built = pq.read_table(download(server, f"sensed/{day}/", tmp_path / "sensed"))
    reference = of_day(reference_addon_aggregates(sources, [yesterday]), yesterday)
    assert (schema(built), rows(built)) == (schema(reference), rows(reference))
