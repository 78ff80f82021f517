"""The storage layer's S3 side (pyarrow's S3 filesystem) against a real S3 API server (moto)."""

import io
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs as pafs

from addon_okrs.storage.locations import Location, S3Options
from harness.object_store import ObjectStoreView

pytestmark = pytest.mark.s3


@pytest.fixture
def endpoint(moto: str) -> str:
    return moto


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> "boto3.client":
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="warehouse")
    return client


def parquet_bytes(rows: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": list(range(rows))}), sink)
    return sink.getvalue()


def keys(s3: "boto3.client", prefix: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket="warehouse", Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_a_day_folder_on_s3_is_listed_counted_moved_and_deleted(
    s3: "boto3.client", endpoint: str
) -> None:
    base = "agg/v1/_staging/run/submission_date_s3=20170501"
    s3.put_object(Bucket="warehouse", Key=f"{base}/part-0.parquet", Body=parquet_bytes(3))
    s3.put_object(Bucket="warehouse", Key=f"{base}/part-1.parquet", Body=parquet_bytes(4))
    s3.put_object(Bucket="warehouse", Key=f"{base}/_SUCCESS", Body=b"")
    options = S3Options(endpoint_url=endpoint, region="us-east-1")
    staged = Location.from_uri(f"s3a://warehouse/{base}", options)
    final = Location.from_uri("s3a://warehouse/agg/v1/submission_date_s3=20170501", options)

    assert staged.exists() and not final.exists()
    assert [i.base_name for i in staged.data_files()] == ["part-0.parquet", "part-1.parquet"]
    assert staged.count_rows() == 7

    staged.move_to(final)

    assert keys(s3, "agg/v1/submission_date_s3=20170501/") == [
        "agg/v1/submission_date_s3=20170501/_SUCCESS",
        "agg/v1/submission_date_s3=20170501/part-0.parquet",
        "agg/v1/submission_date_s3=20170501/part-1.parquet",
    ]
    assert keys(s3, base) == []
    assert final.count_rows() == 7

    final.delete()

    # pyarrow keeps zero-byte "dir/" markers for parents it empties; no data object is left.
    assert [k for k in keys(s3, "agg/") if not k.endswith("/")] == []
    assert not final.exists()


def test_on_an_object_store_a_moved_folders_marker_is_copied_last_and_deleted_first(
    tmp_path: Path,
) -> None:
    # Whenever _SUCCESS is in a folder, the folder is whole: a reader that waits for the
    # marker never reads a day half copied in or half deleted.
    view = ObjectStoreView()
    source = Location(uri="s3a://b/day", fs=pafs.PyFileSystem(view), path=str(tmp_path / "day"))
    for name in ("_SUCCESS", "part-0.parquet", "part-1.parquet"):
        source.write_bytes(name, name.encode())
    view.changes.clear()
    copied_when: list[list[tuple[str, str]]] = []

    source.move_to(source.sibling("moved"), copied=lambda: copied_when.append(list(view.changes)))

    day = str(tmp_path / "day")
    copies = [
        ("copy_file", f"{day}/part-0.parquet"),
        ("copy_file", f"{day}/part-1.parquet"),
        ("copy_file", f"{day}/_SUCCESS"),
    ]
    assert view.changes == [
        *copies,
        ("delete_file", f"{day}/_SUCCESS"),
        ("delete_file", f"{day}/part-0.parquet"),
        ("delete_file", f"{day}/part-1.parquet"),
        ("delete_dir", day),
    ]
    assert copied_when == [copies]  # told once every object is copied, before any delete
    assert sorted(p.name for p in (tmp_path / "moved").iterdir()) == [
        "_SUCCESS", "part-0.parquet", "part-1.parquet",
    ]  # fmt: skip


def test_a_small_file_of_a_day_on_s3_is_written_read_back_or_none(
    s3: "boto3.client", endpoint: str
) -> None:
    """What the bucketed layout's record relies on (storage/bucketing.py): a missing record is
    None, not an error."""
    options = S3Options(endpoint_url=endpoint, region="us-east-1")
    day = Location.from_uri("s3a://warehouse/ms_has_theme/submission_date_s3=20170501", options)

    assert day.read_bytes("_BUCKETING") is None
    day.write_bytes("_BUCKETING", b'{"buckets": 8}')

    assert day.read_bytes("_BUCKETING") == b'{"buckets": 8}'
    assert keys(s3, "ms_has_theme/") == ["ms_has_theme/submission_date_s3=20170501/_BUCKETING"]
