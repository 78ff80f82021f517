"""The day swap on an object store (no rename: a move is a copy, then a delete, object by
object), stopped at every change it makes: by SIGKILL (the writer dies, a later writer
recovers), by a failing request (the writer's own clean-up recovers), and with the recovery
itself stopped at every one of its changes. Whatever the point, once recovered the day holds
the previous output byte for byte (or no folder, if there was none), and nothing else is left.
The store is a local folder seen through pyarrow as an object store (harness/object_store.py),
so each point is reached exactly; test_spark_s3.py kills a real run on SeaweedFS."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from addon_okrs.storage.day_swap import NONE, STAGING, TRASH, WHOLE
from harness.object_store import ObjectStoreView, StoreStopped, day_folders, swap

DAY = "submission_date_s3=20170601"
RUN = "dead"
REPO = Path(__file__).resolve().parents[1]

TABLE_DAY = {"_SUCCESS": b"", "part-00000.parquet": b"old 0", "part-00001.parquet": b"old 1"}
NEW_TABLE_DAY = {
    "_SUCCESS": b"",
    "part-00000.parquet": b"new 0",
    "part-00001.parquet": b"new 1",
    "part-00002.parquet": b"new 2",
}
REPORT_DAY = {"index.html": b"old page", "okrs.json": b"old numbers"}  # no marker
NEW_REPORT_DAY = {"index.html": b"new page", "okrs.json": b"new numbers"}

CASES = {
    "table day": (TABLE_DAY, NEW_TABLE_DAY),
    "report day, no marker": (REPORT_DAY, NEW_REPORT_DAY),
    "first write of the day": (None, NEW_TABLE_DAY),
}


def later() -> float:
    return time.time() + 10 * 60  # every lease taken now has expired by then


def write(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def contents(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def staged_table(table: Path, case: str, run_id: str = RUN) -> Path:
    """A table with the case's previous day and `run_id`'s new day staged."""
    previous, new = CASES[case]
    if previous is not None:
        write(table / DAY, previous)
    write(table / STAGING / run_id / DAY, new)
    return table


def published(changes: list[tuple[str, str]]) -> int:
    """The index of the change after which the swap has published: the delete of the staged
    day's last object (the day's whole new output is in place, and nothing says otherwise)."""
    staged = f"{STAGING}/{RUN}/{DAY}/"
    return max(i for i, (op, path) in enumerate(changes) if op == "delete_file" and staged in path)


def assert_recovered(
    table: Path, case: str, stop_at: int | None = None, changes: list[tuple[str, str]] = ()
) -> None:
    """The day holds the previous output (none: no folder), or the new one if the swap was
    stopped only after it had published; no staged or set-aside object, record or lease is
    left. (Folders without a file are not counted: an object store has no such thing.)"""
    previous, new = CASES[case]
    expected = new if stop_at is not None and stop_at > published(changes) else previous
    assert contents(table / DAY) == expected
    left = sorted(str(p.relative_to(table)) for p in table.rglob("*") if p.is_file())
    assert left == sorted([f"{DAY}/{name}" for name in expected or ()] + ["_leases/.guard"])


def swap_changes(table: Path, case: str, run_id: str = RUN) -> list[tuple[str, str]]:
    """Every change an uninterrupted swap of the case makes, in order."""
    view = ObjectStoreView()
    swap(day_folders(staged_table(table, case, run_id), view), run_id, DAY).release()
    return [(operation, path[len(str(table)) + 1 :]) for operation, path in view.changes]


def test_the_copy_aside_is_recorded_whole_before_anything_of_the_day_is_deleted(
    tmp_path: Path,
) -> None:
    changes = swap_changes(tmp_path / "t", "table day")

    staged = f"{STAGING}/{RUN}/{DAY}"
    assert changes == [
        ("copy_file", f"{DAY}/part-00000.parquet"),
        ("copy_file", f"{DAY}/part-00001.parquet"),
        ("copy_file", f"{DAY}/_SUCCESS"),
        ("put", f"{TRASH}/{RUN}/{DAY}{WHOLE}"),
        ("delete_file", f"{DAY}/_SUCCESS"),
        ("delete_file", f"{DAY}/part-00000.parquet"),
        ("delete_file", f"{DAY}/part-00001.parquet"),
        ("delete_dir", DAY),
        ("copy_file", f"{staged}/part-00000.parquet"),
        ("copy_file", f"{staged}/part-00001.parquet"),
        ("copy_file", f"{staged}/part-00002.parquet"),
        ("copy_file", f"{staged}/_SUCCESS"),
        ("delete_file", f"{staged}/_SUCCESS"),
        ("delete_file", f"{staged}/part-00000.parquet"),
        ("delete_file", f"{staged}/part-00001.parquet"),
        ("delete_file", f"{staged}/part-00002.parquet"),
        ("delete_dir", staged),
    ]
    assert contents(tmp_path / "t" / DAY) == NEW_TABLE_DAY
    assert contents(tmp_path / "t" / TRASH / RUN / DAY) == TABLE_DAY
    assert swap_changes(tmp_path / "first", "first write of the day")[0] == (
        "put",
        f"{TRASH}/{RUN}/{DAY}{NONE}",
    )


@pytest.mark.process
@pytest.mark.parametrize("case", list(CASES))
def test_a_writer_killed_at_any_change_of_its_swap_leaves_the_previous_day_after_recovery(
    case: str, tmp_path: Path
) -> None:
    swap = swap_changes(tmp_path / "count", case)
    for stop_at in range(len(swap)):
        table = staged_table(tmp_path / f"killed-{stop_at}", case)
        killed = subprocess.run(
            [sys.executable, "-m", "harness.object_store", str(table), RUN, DAY, str(stop_at)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert killed.returncode == -9, killed.stderr
        # The dead run's state, recovered by a later writer with every change of its own
        # recovery cut short in turn (then recovered again), and once uninterrupted.
        recovery_changes = ObjectStoreView()
        shutil.copytree(table, tmp_path / "probe")
        day_folders(tmp_path / "probe", recovery_changes, later).recover("next")
        for recovery_stop in range(len(recovery_changes.changes)):
            again = tmp_path / f"killed-{stop_at}-recovery-{recovery_stop}"
            shutil.copytree(table, again)
            with pytest.raises(StoreStopped):
                day_folders(again, ObjectStoreView(recovery_stop), later).recover("next")
            day_folders(again, ObjectStoreView(), later).recover("last")
            assert_recovered(again, case, stop_at, swap)
        shutil.rmtree(tmp_path / "probe")

        assert day_folders(table, ObjectStoreView(), later).recover("next") == [RUN]
        assert_recovered(table, case, stop_at, swap)


@pytest.mark.parametrize("case", list(CASES))
def test_a_swap_failing_at_any_change_gives_the_previous_day_back_at_the_runs_clean_up(
    case: str, tmp_path: Path
) -> None:
    swap = swap_changes(tmp_path / "count", case)
    for stop_at in range(len(swap)):
        table = staged_table(tmp_path / f"failed-{stop_at}", case)
        folders = day_folders(table, ObjectStoreView(stop_at))
        with pytest.raises(StoreStopped), folders.writing(RUN, [DAY]) as leases:
            folders.swap_in(leases, DAY)
        assert_recovered(table, case, stop_at, swap)


@pytest.mark.parametrize("case", list(CASES))
def test_an_uninterrupted_swap_puts_the_new_day_in_place_and_leaves_nothing_else(
    case: str, tmp_path: Path
) -> None:
    table = staged_table(tmp_path / "t", case)
    folders = day_folders(table, ObjectStoreView())
    with folders.writing(RUN, [DAY]) as leases:
        folders.swap_in(leases, DAY)

    assert contents(table / DAY) == CASES[case][1]
    left = sorted(str(p.relative_to(table)) for p in table.rglob("*") if p.is_file())
    assert left == sorted([f"{DAY}/{name}" for name in CASES[case][1]] + ["_leases/.guard"])
