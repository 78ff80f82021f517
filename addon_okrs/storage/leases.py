"""Leases: how a writer holds a day of a table (or of the report) against every other writer,
on a local folder or S3, and how the others can tell it is gone.

A lease is a small file, `<table>/_leases/<day folder>`, naming its owner (the run id), where it
runs and when the lease expires. It is created only if absent (on S3 a conditional create,
`If-None-Match: *`; locally an exclusive create), renewed by its owner well before it expires,
and taken over by another writer only once it has expired, with a replace conditional on the
very version that was read (`If-Match` on S3; locally under a lock of the folder). An owner that
renews a lease someone else took over learns it lost it, and stops before publishing.

So a run's staging is cleaned up by another writer only when the run provably holds nothing:
it is dead, or it stalled for longer than its lease. docs/storage.md has the whole protocol.
"""

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from addon_okrs.storage.locations import LOCAL_SCHEMES, Location, S3Options

LEASES = "_leases"  # leading underscore: Spark's partition discovery skips the folder
DEFAULT_LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class Lease:
    """Who holds a day, from where, until when (seconds since the epoch)."""

    owner: str
    expires: float
    host: str = ""
    pid: int = 0

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Lease | None":
        """The lease a file holds, or None for one that is empty or torn (a writer died while
        creating it): such a file holds nothing."""
        try:
            fields = json.loads(data)
            return cls(
                str(fields["owner"]), float(fields["expires"]), fields["host"], fields["pid"]
            )
        except (ValueError, KeyError, TypeError):
            return None

    @classmethod
    def mine(cls, owner: str, expires: float) -> "Lease":
        """A lease held by this process for `owner` (a run id), until `expires`."""
        return cls(owner, expires, socket.gethostname(), os.getpid())

    def expired(self, now: float) -> bool:
        return self.expires <= now

    def describe(self) -> str:
        left = self.expires - time.time()
        return (
            f"run {self.owner} (host {self.host}, pid {self.pid}; its lease expires in "
            f"{max(left, 0):.0f}s unless renewed)"
        )


class LeaseHeldError(RuntimeError):
    """Another live writer holds a day this writer wants; the message names it and the day."""


class LeaseLostError(RuntimeError):
    """This writer's lease expired and another writer took it over: it must not publish."""


Token = Any  # what a conditional replace compares: the S3 ETag, or the local file's bytes


class LeaseFolder:
    """The lease files of one table (or report): create, read, replace and delete, each
    atomic against every other writer of the same folder."""

    def create(self, name: str, lease: Lease) -> Token | None:
        """Create `name` holding `lease` if no file of that name exists; its token, else None."""
        raise NotImplementedError

    def read(self, name: str) -> tuple[Lease | None, Token] | None:
        """The lease in `name` (None if torn) and its token; None when there is no such file."""
        raise NotImplementedError

    def replace(self, name: str, lease: Lease, token: Token) -> Token | None:
        """Write `lease` into `name` only if the file is still the version `token` names; the
        new token, else None."""
        raise NotImplementedError

    def delete(self, name: str, token: Token) -> None:
        """Delete `name` if it is still the version `token` names."""
        raise NotImplementedError

    def names(self) -> list[str]:
        raise NotImplementedError


class LocalLeaseFolder(LeaseFolder):
    """Lease files on a local (or any POSIX) filesystem: each operation holds an exclusive
    `flock` of the folder's guard file, so check-then-write is one step for every process."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".guard", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def _write(self, name: str, data: bytes) -> None:
        # Whole or not at all: a reader never sees half a lease.
        partial = self.path / f".{name}.{os.getpid()}.partial"
        partial.write_bytes(data)
        os.replace(partial, self.path / name)

    def create(self, name: str, lease: Lease) -> Token | None:
        with self._locked():
            if (self.path / name).exists():
                return None
            data = lease.to_bytes()
            self._write(name, data)
            return data

    def read(self, name: str) -> tuple[Lease | None, Token] | None:
        try:
            data = (self.path / name).read_bytes()
        except FileNotFoundError:
            return None
        return Lease.from_bytes(data), data

    def replace(self, name: str, lease: Lease, token: Token) -> Token | None:
        with self._locked():
            try:
                current = (self.path / name).read_bytes()
            except FileNotFoundError:
                return None
            if current != token:
                return None
            data = lease.to_bytes()
            self._write(name, data)
            return data

    def delete(self, name: str, token: Token) -> None:
        with self._locked():
            target = self.path / name
            if target.exists() and target.read_bytes() == token:
                target.unlink()

    def names(self) -> list[str]:
        if not self.path.exists():
            return []
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith("."))


class S3LeaseFolder(LeaseFolder):
    """Lease objects in S3 (or an S3-compatible server), through conditional writes: a create
    with `If-None-Match: *`, a replace with `If-Match: <ETag read>`. pyarrow's filesystem has no
    conditional write, so this uses boto3 directly."""

    def __init__(self, bucket: str, prefix: str, s3: S3Options) -> None:
        import boto3  # only for an S3 root

        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name=s3.region)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def _put(self, name: str, lease: Lease, **condition: str) -> Token | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=self._key(name), Body=lease.to_bytes(), **condition
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
                "NoSuchKey",
                "412",
                "409",
            ):
                return None
            raise
        return answer["ETag"]

    def create(self, name: str, lease: Lease) -> Token | None:
        return self._put(name, lease, IfNoneMatch="*")

    def read(self, name: str) -> tuple[Lease | None, Token] | None:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return Lease.from_bytes(answer["Body"].read()), answer["ETag"]

    def replace(self, name: str, lease: Lease, token: Token) -> Token | None:
        return self._put(name, lease, IfMatch=token)

    def delete(self, name: str, token: Token) -> None:
        # S3 has no conditional delete on every server: check the version first. A writer only
        # deletes its own live lease, which nobody may take over before it expires.
        found = self.read(name)
        if found is not None and found[1] == token:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def names(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2")
        names = []
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.prefix + "/"):
            for item in page.get("Contents", []):
                name = item["Key"][len(self.prefix) + 1 :]
                if name and "/" not in name and not name.startswith("."):
                    names.append(name)
        return sorted(names)


def lease_folder(table: Location, s3: S3Options) -> LeaseFolder:
    """The lease files of the table (or report) at `table`."""
    folder = table.join(LEASES)
    parsed = urlparse(folder.uri)
    if parsed.scheme in LOCAL_SCHEMES:
        return LocalLeaseFolder(folder.path)
    return S3LeaseFolder(parsed.netloc, parsed.path, s3)


class DayLeases:
    """One writer's leases on some days of one table: taken together or not at all, renewed in
    the background while held, released on leaving."""

    def __init__(
        self,
        folder: LeaseFolder,
        what: str,
        owner: str,
        names: Sequence[str],
        seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder, self.what, self.owner = folder, what, owner
        self.names, self.seconds, self.clock = list(names), seconds, clock
        self.tokens: dict[str, Token] = {}
        self._lost: LeaseLostError | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lock = threading.Lock()

    def _lease(self) -> Lease:
        return Lease.mine(self.owner, self.clock() + self.seconds)

    def acquire(self) -> "DayLeases":
        """Every day's lease, taking over an expired one; LeaseHeldError naming the live
        holder of any day held by another writer (then nothing is kept)."""
        try:
            for name in self.names:
                self.tokens[name] = take(self.folder, name, self._lease(), self.clock(), self.what)
        except BaseException:
            self.release()
            raise
        self._renewer = threading.Thread(target=self._renew_until_stopped, daemon=True)
        self._renewer.start()
        return self

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except LeaseLostError:
                return  # the next publish raises it
            except Exception:  # a storage hiccup: two more tries before the lease expires
                continue

    def renew(self) -> None:
        """Push every lease's expiry out; LeaseLostError if any was taken over."""
        with self._lock:
            if self._lost is not None:
                raise self._lost
            for name, token in list(self.tokens.items()):
                renewed = self.folder.replace(name, self._lease(), token)
                if renewed is None:
                    found = self.folder.read(name)
                    holder = found[0].describe() if found and found[0] else "nobody"
                    self._lost = LeaseLostError(
                        f"{self.what}, {name}: this run's lease ({self.owner}) expired and was "
                        f"taken over (now held by {holder}); nothing more is published. The "
                        f"run stalled for longer than the lease ({self.seconds:.0f}s)."
                    )
                    raise self._lost
                self.tokens[name] = renewed

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join()
        with self._lock:
            for name, token in self.tokens.items():
                self.folder.delete(name, token)
            self.tokens.clear()

    def __enter__(self) -> "DayLeases":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def take(folder: LeaseFolder, name: str, lease: Lease, now: float, what: str) -> Token:
    """`name`'s lease for `lease.owner`: created, or taken over from an expired (or torn) one;
    LeaseHeldError when a live writer holds it."""
    for _ in range(5):  # each round loses only to another writer that changed the file
        token = folder.create(name, lease)
        if token is not None:
            return token
        found = folder.read(name)
        if found is None:
            continue  # released meanwhile: try the create again
        held, current = found
        if held is not None and held.owner == lease.owner:
            replaced = folder.replace(name, lease, current)
            if replaced is not None:
                return replaced
            continue
        if held is not None and not held.expired(now):
            raise LeaseHeldError(
                f"{what}, {name}: being written by {held.describe()}. Two runs never write the "
                f"same day at once: wait for that run to finish, or, if it is dead, for its "
                "lease to expire (then the next writer, or `addon-okrs recover`, cleans up)."
            )
        replaced = folder.replace(name, lease, current)
        if replaced is not None:
            return replaced
    raise LeaseHeldError(f"{what}, {name}: the lease kept changing under this writer; try again")


def expired_by_owner(folder: LeaseFolder, now: float) -> dict[str, list[str]]:
    """The expired leases in `folder` by the run that held them: days a dead run may have left
    staged, half-swapped, or merely leased (killed before its first file)."""
    found: dict[str, list[str]] = {}
    for name in folder.names():
        lease = folder.read(name)
        if lease is not None and lease[0] is not None and lease[0].expired(now):
            found.setdefault(lease[0].owner, []).append(name)
    return found


def live_owners(folder: LeaseFolder, now: float) -> set[str]:
    """The runs holding an unexpired lease in `folder`."""
    owners = set()
    for name in folder.names():
        found = folder.read(name)
        if found is not None and found[0] is not None and not found[0].expired(now):
            owners.add(found[0].owner)
    return owners
