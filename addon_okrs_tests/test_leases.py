"""Leases on both kinds of storage: a local folder, and a real S3 API server (moto, which
implements the conditional writes the S3 side relies on: If-None-Match on create, If-Match on
replace). Every case runs on both."""

import time
from pathlib import Path

import boto3
import pytest

from addon_okrs.storage.leases import (
    DayLeases,
    Lease,
    LeaseFolder,
    LeaseHeldError,
    LeaseLostError,
    LocalLeaseFolder,
    S3LeaseFolder,
    take,
)
from addon_okrs.storage.locations import Location, S3Options
from addon_okrs.storage.report_store import ReportStore
from addon_okrs.storage.warehouse import Warehouse

DAY = "submission_date_s3=20170601"


@pytest.fixture
def endpoint(moto: str) -> str:
    return moto


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> tuple[S3Options, str]:
    """How to reach the server, and a fresh bucket on it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"leases-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket)
    return S3Options(endpoint_url=endpoint, region="us-east-1"), bucket


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> LeaseFolder:
    if request.param == "local":
        return LocalLeaseFolder(str(tmp_path / "_leases"))
    options, bucket = request.getfixturevalue("s3")
    return S3LeaseFolder(bucket, "t/_leases", options)


def lease(owner: str, seconds: float) -> Lease:
    return Lease(owner, time.time() + seconds, "host", 1)


def test_a_lease_is_created_once(folder: LeaseFolder) -> None:
    assert folder.create(DAY, lease("A", 60)) is not None
    assert folder.create(DAY, lease("B", 60)) is None
    found = folder.read(DAY)
    assert found is not None and found[0] is not None and found[0].owner == "A"
    assert folder.names() == [DAY]


def test_a_live_lease_is_refused_and_an_expired_one_taken_over(folder: LeaseFolder) -> None:
    take(folder, DAY, lease("A", 60), time.time(), "table t")
    with pytest.raises(LeaseHeldError, match=r"^table t, submission_date_s3=20170601: being "):
        take(folder, DAY, lease("B", 60), time.time(), "table t")

    folder_lease = folder.read(DAY)
    assert folder_lease is not None
    expired = folder.replace(DAY, lease("A", -1), folder_lease[1])
    assert expired is not None
    take(folder, DAY, lease("B", 60), time.time(), "table t")

    found = folder.read(DAY)
    assert found is not None and found[0] is not None and found[0].owner == "B"


def test_a_replace_from_a_stale_version_fails(folder: LeaseFolder) -> None:
    first = folder.create(DAY, lease("A", 60))
    second = folder.replace(DAY, lease("A", 120), first)
    assert second is not None
    assert folder.replace(DAY, lease("B", 60), first) is None  # someone else's view, outdated
    folder.delete(DAY, first)  # not the current version: nothing deleted
    assert folder.names() == [DAY]
    folder.delete(DAY, second)
    assert folder.names() == []


def test_an_owner_renews_in_the_background_and_learns_when_it_lost_the_lease(
    folder: LeaseFolder,
) -> None:
    held = DayLeases(folder, "table t", "A", [DAY, "submission_date_s3=20170602"], seconds=3)
    held.acquire()
    try:
        started = time.time()
        time.sleep(4)  # past the lease's first expiry: the renewals (every second) kept it
        found = folder.read(DAY)
        assert found is not None and found[0] is not None
        assert found[0].owner == "A" and found[0].expires > started + 3
        with pytest.raises(LeaseHeldError):
            take(folder, DAY, lease("B", 60), time.time(), "table t")

        # What a stall past the lease looks like to the others: A's lease, expired. B takes
        # the day over (a renewal of A's racing this rewrite fails on the changed version).
        expired = None
        for _ in range(10):  # a renewal between the read and the replace wins: read again
            stalled = folder.read(DAY)
            assert stalled is not None
            expired = folder.replace(DAY, lease("A", -1), stalled[1])
            if expired is not None:
                break
        assert expired is not None
        take(folder, DAY, lease("B", 60), time.time(), "table t")
        with pytest.raises(LeaseLostError, match=r"^table t, submission_date_s3=20170601: "):
            held.renew()
    finally:
        held.release()

    # Releasing deletes only what A still holds: B's lease on the day stays.
    assert folder.names() == [DAY]
    found = folder.read(DAY)
    assert found is not None and found[0] is not None and found[0].owner == "B"


def test_leases_are_taken_together_or_not_at_all(folder: LeaseFolder) -> None:
    take(folder, "submission_date_s3=20170602", lease("B", 60), time.time(), "table t")

    with pytest.raises(LeaseHeldError, match="submission_date_s3=20170602"):
        DayLeases(folder, "table t", "A", [DAY, "submission_date_s3=20170602"]).acquire()

    assert folder.names() == ["submission_date_s3=20170602"]  # A kept nothing


@pytest.mark.s3
def test_the_report_swap_on_s3_keeps_writers_apart_and_recovers_a_dead_one(
    s3: tuple[S3Options, str],
) -> None:
    options, bucket = s3
    root = f"s3a://{bucket}/out"
    reports = ReportStore(Warehouse(root, root, f"{root}/intermediate", options))
    reports.publish("20170601", {"index.html": b"first"}, "run-1")
    report = Location.from_uri(f"{root}/reports/addon_okrs", options)
    # A run that moved the day aside (and recorded it whole, as swap_in does) and died.
    aside = report.join("_replaced/dead")
    report.join("20170601").move_to(
        aside.join("20170601"), copied=lambda: aside.touch("20170601.whole")
    )
    report.join("_staging/dead/20170601").write_bytes("part", b"half")
    leases = S3LeaseFolder(bucket, "out/reports/addon_okrs/_leases", options)
    found = leases.read("20170601")
    assert found is None  # run-1 released its lease
    leases.create("20170601", lease("dead", -1))
    leases.create("20170602", lease("other", 3600))

    with pytest.raises(LeaseHeldError, match=r"^report addon_okr_report, 20170602: being"):
        reports.publish("20170602", {"index.html": b"second"}, "run-2")
    reports.publish("20170603", {"index.html": b"third"}, "run-3")

    client = boto3.client("s3", endpoint_url=options.endpoint_url, region_name=options.region)
    keys = sorted(
        o["Key"]
        for o in client.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])
        if not o["Key"].endswith("/")
    )
    assert keys == [
        "out/reports/addon_okrs/20170601/index.html",
        "out/reports/addon_okrs/20170603/index.html",
        "out/reports/addon_okrs/_leases/20170602",
    ]
    body = client.get_object(Bucket=bucket, Key="out/reports/addon_okrs/20170601/index.html")
    assert body["Body"].read() == b"first"
