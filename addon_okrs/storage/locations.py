"""Folders addressed two ways: by URI for Spark, and through pyarrow.fs for the work Spark does
not do for us (listing days, sizes, footers, markers, moving a finished day into place).

pyarrow.fs runs in this process, so it works the same under local Spark, a cluster master and
Spark Connect, where there is no JVM-side Hadoop FileSystem to borrow.
"""

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq
from pyarrow import fs as pafs

# Schemes the project accepts for its roots. s3a/s3n are Hadoop's names for S3; pyarrow calls
# them all s3.
LOCAL_SCHEMES = {"file"}
S3_SCHEMES = {"s3", "s3a", "s3n"}


MARKER = "_SUCCESS"  # a finished folder's marker, as Hadoop writers leave it


def is_data_file(info: pafs.FileInfo) -> bool:
    """Data, not a marker or hidden file (Spark skips names starting with _ or .)."""
    return not info.base_name.startswith(("_", "."))


class StorageConfigError(ValueError):
    pass


class StorageAccessError(RuntimeError):
    """A root that cannot be used as configured: its bucket is missing, the credentials are
    refused, or the endpoint does not answer. The message names the root, the setting and
    what to do."""


def normalise_root(uri: str, setting: str) -> str:
    """A root as Spark should see it: a scheme, no trailing slash. A bare path becomes file://."""
    text = uri.strip()
    if not text:
        raise StorageConfigError(f"{setting} is empty: give a URI such as file:///data/warehouse")
    parsed = urlparse(text)
    if not parsed.scheme:
        return "file://" + os.path.abspath(text)
    if parsed.scheme in LOCAL_SCHEMES:
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise StorageConfigError(
                f"{setting}={uri!r} is not an absolute file URI: write file:///absolute/path"
            )
        # A file URI escapes characters such as spaces (Path.as_uri() writes %20); neither
        # Spark nor pyarrow decodes them, so undecoded the data lands in a folder literally
        # named with "%20" instead of the one the URI names.
        return "file://" + unquote(parsed.path).rstrip("/")
    if parsed.scheme in S3_SCHEMES:
        if not parsed.netloc:
            raise StorageConfigError(
                f"{setting}={uri!r} names no bucket: write s3a://bucket/prefix"
            )
        return text.rstrip("/")
    raise StorageConfigError(
        f"{setting}={uri!r} has scheme {parsed.scheme!r}; supported: file://, s3://, s3a://, s3n://"
    )


S3_CONNECT_TIMEOUT_SECONDS = 10
S3_REQUEST_TIMEOUT_SECONDS = 60

# What S3 (and its SDK through pyarrow) says for refused credentials, and for no answer.
_REFUSED = (
    "ACCESS_DENIED",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "INVALID_ACCESS_KEY_ID",
    "SIGNATURE_DOES_NOT_MATCH",
    "Forbidden",
    "403",
)
_UNREACHABLE = (
    "curlCode: 7",
    "curlCode: 28",
    "Couldn't connect",
    "Connection refused",
    "NETWORK_CONNECTION",
    "Timeout was reached",
    "Could not resolve host",
)


@dataclass(frozen=True)
class S3Options:
    """How pyarrow reaches S3: an S3-compatible endpoint and a region (both from Settings);
    credentials come from the usual AWS chain."""

    endpoint_url: str | None = None
    region: str | None = None


def _filesystem(uri: str, s3: S3Options) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(uri)
    if parsed.scheme in LOCAL_SCHEMES:
        return pafs.LocalFileSystem(), parsed.path
    if parsed.scheme in S3_SCHEMES:
        filesystem = pafs.S3FileSystem(
            endpoint_override=s3.endpoint_url,
            region=s3.region,
            connect_timeout=S3_CONNECT_TIMEOUT_SECONDS,
            request_timeout=S3_REQUEST_TIMEOUT_SECONDS,
        )
        return filesystem, parsed.netloc + parsed.path
    raise StorageConfigError(f"unsupported storage URI {uri!r}")


def check_access(uri: str, setting: str, s3: S3Options) -> None:
    """An S3 root's bucket answers to these credentials (one HEAD request); a local root is
    not checked. Runs before anything is read or written, so that a bad setting fails with a
    message saying which, not halfway through a run."""
    parsed = urlparse(uri)
    if parsed.scheme not in S3_SCHEMES:
        return
    bucket = parsed.netloc
    where = (
        f"the S3 endpoint {s3.endpoint_url} (ADDON_OKRS_S3_ENDPOINT_URL)"
        if s3.endpoint_url
        else "AWS S3"
    )
    filesystem, _ = _filesystem(uri, s3)
    try:
        found = filesystem.get_file_info(bucket).type
    except OSError as error:
        text = str(error)
        if any(word in text for word in _UNREACHABLE):
            raise StorageAccessError(
                f"{setting}={uri}: {where} does not answer ({text.strip()}). Check that the "
                "server is up and the endpoint URL is right."
            ) from None
        if any(word in text for word in _REFUSED):
            raise StorageAccessError(
                f"{setting}={uri}: {where} refused the credentials for bucket {bucket!r} "
                f"({text.strip()}). Give credentials allowed to read and write it through the "
                "standard AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                "or an instance or pod role)."
            ) from None
        raise StorageAccessError(f"{setting}={uri}: {where}: {text.strip()}") from None
    if found == pafs.FileType.NotFound:
        raise StorageAccessError(
            f"{setting}={uri}: bucket {bucket!r} does not exist at {where}. Create it, or "
            f"point {setting} at an existing bucket."
        )


@dataclass(frozen=True)
class Location:
    """One folder: `uri` for Spark, `fs` + `path` for pyarrow."""

    uri: str
    fs: pafs.FileSystem
    path: str

    @classmethod
    def from_uri(cls, uri: str, s3: S3Options | None = None) -> "Location":
        fs, path = _filesystem(uri, s3 or S3Options())
        return cls(uri=uri.rstrip("/"), fs=fs, path=path.rstrip("/"))

    def join(self, *parts: str) -> "Location":
        suffix = "/".join(parts)
        return Location(uri=f"{self.uri}/{suffix}", fs=self.fs, path=f"{self.path}/{suffix}")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def sibling(self, name: str) -> "Location":
        return self.parent().join(name)

    def parent(self) -> "Location":
        return Location(
            uri=self.uri.rsplit("/", 1)[0], fs=self.fs, path=self.path.rsplit("/", 1)[0]
        )

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def exists(self) -> bool:
        """A file, or a folder holding at least one file. On an object store a folder is only
        a key prefix: an emptied one may still be listed (directory entries of SeaweedFS or
        MinIO, zero-byte `name/` markers), but holds nothing, so it does not exist here."""
        found = self.fs.get_file_info(self.path).type
        if found != pafs.FileType.Directory or self.is_local:
            return found != pafs.FileType.NotFound
        inside = pafs.FileSelector(self.path, recursive=True, allow_not_found=True)
        return any(i.type == pafs.FileType.File for i in self.fs.get_file_info(inside))

    def subfolders(self) -> list[str]:
        """Names of the folders directly below (empty if this folder does not exist)."""
        if not self.exists():
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path, recursive=False))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def files(self, recursive: bool = True) -> list[pafs.FileInfo]:
        if not self.exists():
            return []
        selector = pafs.FileSelector(self.path, recursive=recursive)
        return [i for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.File]

    def data_files(self) -> list[pafs.FileInfo]:
        """Parquet data files, skipping markers and hidden files as Spark does."""
        return sorted((i for i in self.files() if is_data_file(i)), key=lambda i: i.path)

    def count_rows(self, data_files: list[pafs.FileInfo] | None = None) -> int:
        """Rows from the parquet footers only: no data is read. Pass `data_files` when the
        folder was just listed, to save listing it again."""
        files = self.data_files() if data_files is None else data_files
        return sum(pq.ParquetFile(i.path, filesystem=self.fs).metadata.num_rows for i in files)

    def write_bytes(self, name: str, data: bytes) -> None:
        """A file of this folder (created, with its parents, if missing; an object store has no
        folders to create: creating one there would leave an empty marker object)."""
        if self.is_local:
            self.fs.create_dir(self.path, recursive=True)
        with self.fs.open_output_stream(f"{self.path}/{name}") as out:
            out.write(data)

    def read_bytes(self, name: str) -> bytes | None:
        """A file of this folder, or None when it is not there."""
        try:
            with self.fs.open_input_stream(f"{self.path}/{name}") as source:
                return bytes(source.read())
        except FileNotFoundError:
            return None

    def touch(self, name: str) -> None:
        """An empty file of this folder (created, with its parents, if missing)."""
        if self.is_local:
            self.fs.create_dir(self.path, recursive=True)
        with self.fs.open_output_stream(f"{self.path}/{name}"):
            pass

    def delete_file(self, name: str) -> None:
        """Remove a file of this folder; one already gone is not an error."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(f"{self.path}/{name}")

    def delete(self) -> None:
        """Remove the folder and all below it; one already gone is not an error."""
        if self.fs.get_file_info(self.path).type == pafs.FileType.NotFound:
            return
        # An object store's emptied prefix may be listed, yet hold nothing to delete.
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir(self.path)

    def delete_if_empty(self) -> None:
        if self.exists() and not self.fs.get_file_info(pafs.FileSelector(self.path)):
            self.fs.delete_dir(self.path)

    def move_to(self, target: "Location", copied: Callable[[], None] | None = None) -> None:
        """Rename a folder. Atomic on a local filesystem; an object store has no rename, so
        there it is a copy of every object followed by a delete. `copied` is called once the
        target is whole and before anything here is deleted (locally, after the rename): the
        moment a caller can record that the target, not this folder, holds the whole."""
        if self.is_local:
            self.fs.create_dir(target.parent().path, recursive=True)
            self.fs.move(self.path, target.path)
            if copied is not None:
                copied()
            return
        # Markers last in, first out: a reader waiting for _SUCCESS finds every data file in
        # place once it is there, and none gone while it still is.
        files = sorted(self.files(), key=lambda i: (i.base_name == MARKER, i.path))
        for info in files:
            relative = info.path[len(self.path) + 1 :]
            self.fs.copy_file(info.path, f"{target.path}/{relative}")
        if copied is not None:
            copied()
        for marker in (i for i in files if i.base_name == MARKER):
            self.fs.delete_file(marker.path)
        self.fs.delete_dir(self.path)
