"""A local folder seen through pyarrow as an object store: no rename (a move is a copy of each
object, then a delete of each), every change to the store recorded in order, and optionally
cut short at the k-th change, the way a process killed there, or a request failing there,
leaves the store. Used to walk the write protocol through every point where S3 can stop it,
and as the writer of `python -m harness.object_store` (below), which SIGKILLs itself there.
"""

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyarrow import fs as pafs

from addon_okrs.storage.day_swap import DayFolders
from addon_okrs.storage.leases import DayLeases, LocalLeaseFolder
from addon_okrs.storage.locations import Location

LEASE_SECONDS = 60.0


class StoreStopped(OSError):
    """What a request cut short raises (an S3 error, as far as the caller can tell)."""


class ObjectStoreView(pafs.FileSystemHandler):  # type: ignore[misc]
    """Changes are `(operation, path)`: copy_file (the source), delete_file, delete_dir (an
    emptied folder), put (a new object). A folder's delete is a delete of each object, as S3
    does it. `stop_at=k` runs `stop()` instead of the k-th change (counting from 0), once."""

    def __init__(self, stop_at: int | None = None, stop: Callable[[], None] | None = None) -> None:
        self.local = pafs.LocalFileSystem()
        self.changes: list[tuple[str, str]] = []
        self.stop_at, self.stop = stop_at, stop or self._raise

    @staticmethod
    def _raise() -> None:
        raise StoreStopped("the store stopped answering")

    def _change(self, operation: str, path: str) -> None:
        if self.stop_at is not None and len(self.changes) == self.stop_at:
            self.stop_at = None
            self.stop()
        self.changes.append((operation, path))

    def get_type_name(self) -> str:
        return "object-store-view"

    def equals(self, other: object) -> bool:
        return other is self

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.local.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.local.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.local.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        inside = self.local.get_file_info(pafs.FileSelector(path, recursive=True))
        for info in sorted(i.path for i in inside if i.type == pafs.FileType.File):
            self._change("delete_file", info)
            self.local.delete_file(info)
        self._change("delete_dir", path)
        self.local.delete_dir(path)
        self._prune(path)

    def _prune(self, path: str) -> None:
        """An object store has no empty folders: a prefix goes with its last object."""
        parent = Path(path).parent
        while parent != parent.parent and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        raise NotImplementedError

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError

    def delete_file(self, path: str) -> None:
        if self.local.get_file_info(path).type == pafs.FileType.NotFound:
            raise FileNotFoundError(path)
        self._change("delete_file", path)
        self.local.delete_file(path)
        self._prune(path)

    def move(self, src: str, dest: str) -> None:
        raise AssertionError("an object store has no rename")

    def copy_file(self, src: str, dest: str) -> None:
        self._change("copy_file", src)
        self.local.create_dir(dest.rsplit("/", 1)[0], recursive=True)
        self.local.copy_file(src, dest)

    def open_input_stream(self, path: str) -> Any:
        return self.local.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self.local.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        self._change("put", path)
        self.local.create_dir(path.rsplit("/", 1)[0], recursive=True)
        return self.local.open_output_stream(path)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        raise NotImplementedError


def day_folders(
    table: Path, view: ObjectStoreView, clock: Callable[[], float] = time.time
) -> DayFolders:
    """The write protocol over the table folder `table`, seen through `view`; its leases in
    `table/_leases` (local files, not changes of the view)."""
    location = Location(uri=f"s3a://view{table}", fs=pafs.PyFileSystem(view), path=str(table))
    leases = LocalLeaseFolder(str(table / "_leases"))
    return DayFolders(location, leases, f"table {table.name}", LEASE_SECONDS, clock)


def swap(folders: DayFolders, run_id: str, folder: str) -> DayLeases:
    """What a run does once its day is staged: take the day's lease and swap the day in. No
    clean-up and no release (the leases are returned): the caller decides how the run ends."""
    leases = DayLeases(folders.leases, folders.what, run_id, [folder], LEASE_SECONDS)
    folders.swap_in(leases.acquire(), folder)
    return leases


def main(argv: list[str]) -> None:
    """`python -m harness.object_store TABLE RUN_ID FOLDER STOP_AT`: swap the run's staged
    day in, SIGKILLed at change STOP_AT; exits 0 if the swap has fewer changes than that."""
    table, run_id, folder, stop_at = Path(argv[0]), argv[1], argv[2], int(argv[3])
    view = ObjectStoreView(stop_at, stop=lambda: os.kill(os.getpid(), signal.SIGKILL))
    swap(day_folders(table, view), run_id, folder)


if __name__ == "__main__":
    main(sys.argv[1:])
