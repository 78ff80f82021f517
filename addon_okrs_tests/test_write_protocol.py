"""The write protocol under overlapping and dying writers, on a local folder: a run's staging
is its own while its lease lives, two runs of the same day are kept apart by the day's lease, a
dead run's half-swapped day comes back whole once its lease expires (at the next write or at
`addon-okrs recover`), and a run that lost its lease publishes nothing. Each interleaving is
forced: the second writer runs inside the first one's open staging."""

import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession

from addon_okrs.storage.catalog import ADDON_OKR_REPORT
from addon_okrs.storage.leases import Lease, LeaseHeldError, LeaseLostError
from addon_okrs.storage.report_store import ReportStore
from addon_okrs.storage.table_store import TableStore
from addon_okrs.storage.warehouse import Warehouse
from addon_okrs.tools import cli

TABLE = "channel_counts"
SCHEMA = (
    "submission_date_s3 string, normalized_channel string, n_clients int, "
    "n_custom_theme_clients int"
)


def warehouse(root: Path) -> Warehouse:
    return Warehouse(root.as_uri(), root.as_uri(), (root / "i").as_uri())


def frame(spark: SparkSession, day: str, n_clients: int) -> DataFrame:
    return spark.createDataFrame([(day, "release", n_clients, 3)], SCHEMA)


def rows(root: Path, day: str) -> list[tuple[object, ...]]:
    table = pq.read_table(root / "i" / TABLE / f"submission_date_s3={day}")
    return [tuple(r.values()) for r in table.to_pylist()]


def table_folders(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "i" / TABLE).iterdir())


def leases(root: Path) -> list[str]:
    folder = root / "i" / TABLE / "_leases"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_a_run_leaves_another_live_runs_staging_alone(spark: SparkSession, tmp_path: Path) -> None:
    store = TableStore(spark, warehouse(tmp_path))

    with store.stage(TABLE, ["20170601"], frame(spark, "20170601", 10), "run-A") as a:
        with store.stage(TABLE, ["20170602"], frame(spark, "20170602", 20), "run-B") as b:
            b.publish("20170602")
        a.publish("20170601")

    assert rows(tmp_path, "20170601") == [("release", 10, 3)]
    assert rows(tmp_path, "20170602") == [("release", 20, 3)]
    assert table_folders(tmp_path) == [
        "_leases",
        "submission_date_s3=20170601",
        "submission_date_s3=20170602",
    ]
    assert leases(tmp_path) == []


def test_a_second_writer_of_the_same_day_fails_at_once_naming_the_first(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = TableStore(spark, warehouse(tmp_path))

    with store.stage(TABLE, ["20170601"], frame(spark, "20170601", 10), "run-A") as a:
        with (
            pytest.raises(LeaseHeldError) as held,
            store.stage(TABLE, ["20170601"], frame(spark, "20170601", 99), "run-B"),
        ):
            pass
        assert leases(tmp_path) == ["submission_date_s3=20170601"]  # A's, untouched by B
        a.publish("20170601")

    assert str(held.value).startswith(
        "table channel_counts, submission_date_s3=20170601: being written by run run-A "
    )
    assert "wait for that run to finish" in str(held.value)
    assert rows(tmp_path, "20170601") == [("release", 10, 3)]  # the whole of A's output
    # Once A is done, the day is free again.
    store.write(TABLE, ["20170601"], frame(spark, "20170601", 99), "run-B")
    assert rows(tmp_path, "20170601") == [("release", 99, 3)]


def dead_run_mid_swap(spark: SparkSession, root: Path, lease_expires: float) -> dict[str, bytes]:
    """Day 20170601 published once, then a run `dead` that moved it aside and died before its
    staged day was in place, leaving a lease that expires at `lease_expires`; the previous
    day's files."""
    store = TableStore(spark, warehouse(root))
    store.write(TABLE, ["20170601"], frame(spark, "20170601", 10), "run-1")
    table = root / "i" / TABLE
    day = table / "submission_date_s3=20170601"
    previous = {p.name: p.read_bytes() for p in day.iterdir()}
    (table / "_replaced/dead").mkdir(parents=True)
    day.rename(table / "_replaced/dead/submission_date_s3=20170601")
    staged = table / "_staging/dead/submission_date_s3=20170601"
    staged.mkdir(parents=True)
    (staged / "part-0.parquet").write_bytes(b"half a file")
    lease = Lease("dead", lease_expires, "gone-host", 1)
    (table / "_leases/submission_date_s3=20170601").write_bytes(lease.to_bytes())
    return previous


def test_a_dead_runs_day_comes_back_byte_identical_once_its_lease_expires(
    spark: SparkSession, tmp_path: Path
) -> None:
    previous = dead_run_mid_swap(spark, tmp_path, lease_expires=time.time() + 3600)
    store = TableStore(spark, warehouse(tmp_path))
    table = tmp_path / "i" / TABLE

    # While its lease lives, another day's writer leaves the run's leftovers alone ...
    store.write(TABLE, ["20170602"], frame(spark, "20170602", 20), "run-2")
    assert (table / "_staging/dead").exists() and (table / "_replaced/dead").exists()
    assert not (table / "submission_date_s3=20170601").exists()

    # ... and once it has expired (the dead run renews nothing), the next writer recovers it.
    lease = Lease("dead", time.time() - 1, "gone-host", 1)
    (table / "_leases/submission_date_s3=20170601").write_bytes(lease.to_bytes())
    store.write(TABLE, ["20170603"], frame(spark, "20170603", 30), "run-3")

    day = table / "submission_date_s3=20170601"
    assert {p.name: p.read_bytes() for p in day.iterdir()} == previous
    assert table_folders(tmp_path) == [
        "_leases",
        "submission_date_s3=20170601",
        "submission_date_s3=20170602",
        "submission_date_s3=20170603",
    ]
    assert leases(tmp_path) == []


def test_recover_cleans_up_dead_runs_and_leaves_live_ones_alone(
    spark: SparkSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    previous = dead_run_mid_swap(spark, tmp_path, lease_expires=time.time() - 1)
    table = tmp_path / "i" / TABLE
    (table / "_staging/alive/submission_date_s3=20170605").mkdir(parents=True)
    live = Lease("alive", time.time() + 3600, "busy-host", 2)
    (table / "_leases/submission_date_s3=20170605").write_bytes(live.to_bytes())
    monkeypatch.setenv("ADDON_OKRS_SOURCE_ROOT", tmp_path.as_uri())
    monkeypatch.setenv("ADDON_OKRS_OUTPUT_ROOT", tmp_path.as_uri())
    monkeypatch.setenv("ADDON_OKRS_INTERMEDIATE_ROOT", (tmp_path / "i").as_uri())

    assert cli.main(["recover"]) == 0

    assert capsys.readouterr().out == (
        "table channel_counts: recovered dead; still writing (live lease): alive\nrecover: done\n"
    )
    day = table / "submission_date_s3=20170601"
    assert {p.name: p.read_bytes() for p in day.iterdir()} == previous
    assert sorted(p.name for p in (table / "_staging").iterdir()) == ["alive"]
    assert not (table / "_replaced").exists()
    assert leases(tmp_path) == ["submission_date_s3=20170605"]


def test_a_run_killed_before_its_first_file_leaves_a_lease_the_next_writer_releases(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = TableStore(spark, warehouse(tmp_path))
    store.write(TABLE, ["20170601"], frame(spark, "20170601", 10), "run-1")
    table = tmp_path / "i" / TABLE
    # Killed after taking the day's lease, before Spark wrote anything (one with Spark's own
    # scratch folder only: the same).
    (table / "_staging/dead/_temporary/0").mkdir(parents=True)
    dead = Lease("dead", time.time() - 1, "gone-host", 1)
    (table / "_leases/submission_date_s3=20170601").write_bytes(dead.to_bytes())

    store.write(TABLE, ["20170602"], frame(spark, "20170602", 20), "run-2")

    assert table_folders(tmp_path) == [
        "_leases",
        "submission_date_s3=20170601",
        "submission_date_s3=20170602",
    ]
    assert leases(tmp_path) == []
    assert rows(tmp_path, "20170601") == [("release", 10, 3)]


def test_a_run_that_lost_its_lease_publishes_nothing(spark: SparkSession, tmp_path: Path) -> None:
    store = TableStore(spark, warehouse(tmp_path))
    store.write(TABLE, ["20170601"], frame(spark, "20170601", 10), "run-1")
    table = tmp_path / "i" / TABLE

    with store.stage(TABLE, ["20170601"], frame(spark, "20170601", 77), "stalled") as stalled:
        # The run stalls past its lease: another writer finds it expired and takes the day.
        expired = Lease("stalled", time.time() - 1, "slow-host", 3)
        (table / "_leases/submission_date_s3=20170601").write_bytes(expired.to_bytes())
        assert store.recover(TABLE, "recoverer") == ["stalled"]
        with pytest.raises(LeaseLostError) as lost:
            stalled.publish("20170601")

    assert str(lost.value).startswith(
        "table channel_counts, submission_date_s3=20170601: this run's lease (stalled) expired "
        "and was taken over"
    )
    assert rows(tmp_path, "20170601") == [("release", 10, 3)]


def test_the_report_swap_keeps_writers_of_a_day_apart_and_recovers_a_dead_one(
    tmp_path: Path,
) -> None:
    reports = ReportStore(warehouse(tmp_path))
    reports.publish("20170601", {"index.html": b"first"}, "run-1")
    folder = tmp_path / ADDON_OKR_REPORT.path
    (folder / "_replaced/dead").mkdir(parents=True)
    (folder / "20170601").rename(folder / "_replaced/dead/20170601")
    (folder / "_staging/dead/20170601").mkdir(parents=True)
    expired = Lease("dead", time.time() - 1, "gone-host", 1)
    (folder / "_leases/20170601").write_bytes(expired.to_bytes())
    live = Lease("other", time.time() + 3600, "busy-host", 2)
    (folder / "_leases/20170602").write_bytes(live.to_bytes())

    with pytest.raises(LeaseHeldError, match=r"^report addon_okr_report, 20170602: being written"):
        reports.publish("20170602", {"index.html": b"second"}, "run-2")
    # Refused before it touches anything: the dead run's day is still aside.
    assert not (folder / "20170601").exists()

    reports.publish("20170603", {"index.html": b"third"}, "run-3")

    assert (folder / "20170601/index.html").read_bytes() == b"first"
    assert (folder / "20170603/index.html").read_bytes() == b"third"
    assert sorted(p.name for p in folder.iterdir()) == ["20170601", "20170603", "_leases"]
