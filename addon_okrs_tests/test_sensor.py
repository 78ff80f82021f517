"""The upstream-arrival sensor against a local folder and a real S3 API server (moto)."""

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any, Protocol

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from addon_okrs.defs.code_location import build_definitions
from addon_okrs.defs.resources.arrivals import ArrivalStore, LocalArrivalStore
from addon_okrs.defs.resources.s3_arrivals import S3ArrivalStore
from addon_okrs.defs.sensors import build_arrival_sensor
from addon_okrs.storage.catalog import SOURCES
from harness.servers import moto_server
from harness.settings import local_settings

upstream_arrival_sensor = build_arrival_sensor()

TABLES = ("addons/v2", "main_summary/v4")
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def day(days_ago: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).strftime("%Y%m%d")


class Upstream(Protocol):
    def arrive(self, table: str, day: str, samples: int = 1, files_per_sample: int = 1) -> None: ...
    def rewrite(self, table: str, day: str) -> None: ...
    def store(self, **settings: Any) -> ArrivalStore: ...


class LocalUpstream:
    def __init__(self, root: Path) -> None:
        self.root = root

    def arrive(self, table: str, day: str, samples: int = 1, files_per_sample: int = 1) -> None:
        for s in range(samples):
            folder = self.root / table / f"submission_date_s3={day}" / f"sample_id={s}"
            folder.mkdir(parents=True, exist_ok=True)
            for f in range(files_per_sample):
                (folder / f"part-{f:05d}.parquet").write_bytes(b"x")
            (folder / "_SUCCESS").touch()

    def rewrite(self, table: str, day: str) -> None:
        later = time.time() + 60
        for marker in (self.root / table / f"submission_date_s3={day}").rglob("_SUCCESS"):
            os.utime(marker, (later, later))

    def store(self, **settings: Any) -> ArrivalStore:
        return LocalArrivalStore(root=self.root.as_uri(), **settings)


class S3Upstream:
    def __init__(self, endpoint: str, bucket: str) -> None:
        self.endpoint, self.bucket = endpoint, bucket
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS
        )
        self.client.create_bucket(Bucket=bucket)

    def arrive(self, table: str, day: str, samples: int = 1, files_per_sample: int = 1) -> None:
        for s in range(samples):
            prefix = f"telemetry/{table}/submission_date_s3={day}/sample_id={s}"
            for f in range(files_per_sample):
                self.client.put_object(
                    Bucket=self.bucket, Key=f"{prefix}/part-{f:05d}.parquet", Body=b"x"
                )
            self.client.put_object(Bucket=self.bucket, Key=f"{prefix}/_SUCCESS", Body=b"")

    def rewrite(self, table: str, day: str) -> None:
        time.sleep(1.1)  # S3 modification times have one-second resolution
        prefix = f"telemetry/{table}/submission_date_s3={day}/"
        for obj in self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)["Contents"]:
            if obj["Key"].endswith("/_SUCCESS"):
                self.client.put_object(Bucket=self.bucket, Key=obj["Key"], Body=b"")

    def store(self, **settings: Any) -> ArrivalStore:
        s3 = S3Resource(endpoint_url=self.endpoint, region_name="us-east-1", **CREDENTIALS)
        return S3ArrivalStore(root=f"s3a://{self.bucket}/telemetry", s3=s3, **settings)


@pytest.fixture
def s3_endpoint(moto: str) -> str:
    return moto


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def upstream(request: pytest.FixtureRequest, tmp_path: Path) -> Upstream:
    if request.param == "local":
        return LocalUpstream(tmp_path)
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3Upstream(endpoint, bucket=f"b-{tmp_path.name.lower().replace('_', '-')[-40:]}")


def tick(store: ArrivalStore, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(cursor=cursor, resources={"arrivals": store}) as context:
        result = upstream_arrival_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def requested(result: dg.SensorResult) -> list[str]:
    return [r.partition_key for r in result.run_requests or [] if r.partition_key]


def arrivals(result: dg.SensorResult) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The source materializations a tick records: (asset, day, metadata values)."""
    found = []
    for event in result.asset_events or []:
        assert isinstance(event, dg.AssetMaterialization)
        values = {k: v.value for k, v in event.metadata.items()}
        found.append((event.asset_key.to_user_string(), event.partition, values))
    return found


def test_nothing_ready_requests_nothing(upstream: Upstream) -> None:
    result = tick(upstream.store())

    assert requested(result) == []
    assert result.skip_reason is not None
    assert result.skip_reason.skip_message.startswith(
        f"nothing new in {day(7)}..{day(1)}; waiting for {day(7)} "
        "(addons/v2 0 marker(s), main_summary/v4 0 marker(s))"
    )


def test_one_table_ready_is_not_enough(upstream: Upstream) -> None:
    upstream.arrive("addons/v2", day(1))

    result = tick(upstream.store())

    assert requested(result) == []
    assert result.skip_reason is not None
    assert (
        f"{day(1)} (addons/v2 1 marker(s), main_summary/v4 0 marker(s))"
        in result.skip_reason.skip_message
    )


def test_both_tables_ready_request_one_run_of_the_day(upstream: Upstream) -> None:
    for table in TABLES:
        upstream.arrive(table, day(2))

    result = tick(upstream.store())

    [request] = result.run_requests or []
    assert request.partition_key == day(2)
    assert request.run_key is not None and request.run_key.startswith(f"{day(2)}:1@")
    assert request.job_name is None  # the sensor's own job: every asset of the day
    assert json.loads(result.cursor or "{}") == {day(2): request.run_key.split(":", 1)[1]}
    # The same tick records the arrival of each source day, with what the listing saw.
    markers = [upstream.store().day_markers(table, day(2)) for table in SOURCES]
    assert arrivals(result) == [
        (
            table.name,
            day(2),
            {
                "markers": 1,
                "data_files": 1,
                "bytes": 1,
                "newest_marker": m.newest,
                "location": m.location,
            },
        )
        for table, m in zip(SOURCES, markers, strict=True)
    ]
    assert all(m.newest > 0 for m in markers)


def test_the_same_state_twice_fires_once(upstream: Upstream) -> None:
    for table in TABLES:
        upstream.arrive(table, day(1))
    store = upstream.store()

    first = tick(store)
    second = tick(store, cursor=first.cursor)

    assert requested(first) == [day(1)]
    assert requested(second) == []
    assert second.cursor == first.cursor
    assert [(a, d) for a, d, _ in arrivals(first)] == [("addons", day(1)), ("main_summary", day(1))]
    assert arrivals(second) == []


def test_an_upstream_rewrite_fires_again(upstream: Upstream) -> None:
    for table in TABLES:
        upstream.arrive(table, day(1))
    store = upstream.store()
    first = tick(store)

    upstream.rewrite("main_summary/v4", day(1))
    second = tick(store, cursor=first.cursor)
    third = tick(store, cursor=second.cursor)

    assert requested(second) == [day(1)]
    [before], [after] = first.run_requests or [], second.run_requests or []
    assert before.run_key != after.run_key
    assert requested(third) == []
    # Only the rewritten source records a new arrival, once.
    assert [(a, d) for a, d, _ in arrivals(second)] == [("main_summary", day(1))]
    assert arrivals(third) == []


def test_min_success_markers_counts_markers_at_any_depth(upstream: Upstream) -> None:
    for table in TABLES:
        upstream.arrive(table, day(1), samples=3)

    assert requested(tick(upstream.store(min_success_markers=3))) == [day(1)]
    assert requested(tick(upstream.store(min_success_markers=4))) == []


def test_look_back_window_bounds_the_days_checked(upstream: Upstream) -> None:
    for table in TABLES:
        upstream.arrive(table, day(10))
        upstream.arrive(table, day(0))  # today: not a partition until the day is over

    assert requested(tick(upstream.store())) == []
    assert requested(tick(upstream.store(lookback_days=14))) == [day(10)]


@pytest.mark.s3
def test_thousands_of_keys_in_a_day_are_listed_across_pages(s3_endpoint: str) -> None:
    upstream = S3Upstream(s3_endpoint, bucket="paginated")
    for table in TABLES:
        # 100 samples x (10 files + marker) = 1,100 keys a day: more than one listing page.
        upstream.arrive(table, day(1), samples=100, files_per_sample=10)

    assert requested(tick(upstream.store(min_success_markers=100))) == [day(1)]


@pytest.mark.s3
def test_missing_bucket_logs_a_clear_error_and_requests_nothing(
    s3_endpoint: str, capfd: pytest.CaptureFixture[str]
) -> None:
    s3 = S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    store = S3ArrivalStore(root="s3://no-such-bucket/telemetry", s3=s3)

    result = tick(store)

    assert requested(result) == []
    assert result.skip_reason is not None
    message = result.skip_reason.skip_message
    assert message.startswith(
        "arrival sensor: cannot list s3://no-such-bucket/telemetry/addons/v2/"
        f"submission_date_s3={day(7)}/: "
    )
    assert "NoSuchBucket" in message
    assert message.endswith("The next tick tries again.")
    # The sensor's log goes to the tick's log (and Dagster's console handler, stderr).
    assert f"dagster - ERROR - {message}" in capfd.readouterr().err


@pytest.mark.s3
def test_refused_credentials_log_a_clear_error_and_request_nothing(tmp_path: Path) -> None:
    with moto_server(tmp_path / "moto-auth.log", require_auth=True) as endpoint:
        s3 = S3Resource(
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIAWRONG",
            aws_secret_access_key="wrong",
        )
        result = tick(S3ArrivalStore(root="s3://telemetry-parquet", s3=s3))

    assert requested(result) == []
    assert result.skip_reason is not None
    assert "InvalidAccessKeyId" in result.skip_reason.skip_message
    assert result.skip_reason.skip_message.startswith(
        "arrival sensor: cannot list s3://telemetry-parquet/addons/v2/"
    )


def test_a_tick_needs_no_spark() -> None:
    assert upstream_arrival_sensor.required_resource_keys == {"arrivals"}


def test_the_schedule_builds_yesterday_at_one_in_the_morning_utc(tmp_path: Path) -> None:
    defs = build_definitions(local_settings(tmp_path, tmp_path))
    schedule = defs.resolve_schedule_def("addon_aggregates_daily_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2017, 5, 2, 1, 0, tzinfo=dt.UTC)
    )

    [request] = schedule.evaluate_tick(context).run_requests or []

    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 1 * * *", "UTC")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert request.partition_key == "20170501"
