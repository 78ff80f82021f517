"""Fewer, larger parquet files from the files one Spark write left, without decoding them: each
new file is the row groups of a run of the old ones, copied as bytes by the parquet library that
Spark itself writes with (`ParquetFileWriter.appendFile`, in the driver's JVM), under the first
file's schema and key-value metadata (Spark's own schema included), so Spark and any other
parquet reader see the same rows and types. No Spark job runs and no task merges files alone.

A session without a JVM of its own (Spark Connect) cannot do this; `merge` then says so and the
caller re-cuts the files with Spark instead.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from pyarrow.fs import FileInfo
from pyspark.sql import SparkSession

from addon_okrs.storage.locations import Location

ROW_GROUP_BYTES = 128 * 1024 * 1024  # parquet's default; with no padding it only names a size
NO_PADDING = 0


def groups(sizes: Sequence[int], wanted: int) -> list[list[int]]:
    """The files' indexes in `wanted` runs of neighbours, in order, none empty: a file joins the
    current run while its middle byte falls within that run's equal share of the bytes."""
    if not 1 <= wanted <= len(sizes):
        raise ValueError(f"cannot merge {len(sizes)} files into {wanted}")
    total, count = sum(sizes), len(sizes)
    runs: list[list[int]] = []
    index, before = 0, 0
    for number in range(wanted):
        share_ends = total * (number + 1) / wanted
        run: list[int] = []
        files_needed_after = wanted - number - 1
        while index < count and (
            not run
            or (before + sizes[index] / 2 <= share_ends and count - index > files_needed_after)
        ):
            run.append(index)
            before += sizes[index]
            index += 1
        runs.append(run)
    return runs


def driver_jvm(spark: SparkSession) -> Any | None:
    """The driver's JVM, for a classic session; None for Spark Connect's, which has none here."""
    try:
        return spark._jvm
    except AttributeError:
        return None


def merge(spark: SparkSession, folder: Location, data: list[FileInfo], wanted: int) -> bool:
    """Replace `data`, the data files in `folder` (as `Location.data_files` lists them), with
    `wanted` files holding the same row groups. False, touching nothing, when the session has
    no JVM to do it with."""
    jvm = driver_jvm(spark)
    if jvm is None:
        return False
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop = jvm.org.apache.parquet.hadoop
    mode = getattr(hadoop, "ParquetFileWriter$Mode").CREATE

    def input_file(uri: str) -> Any:  # a py4j proxy
        return hadoop.util.HadoopInputFile.fromPath(jvm.org.apache.hadoop.fs.Path(uri), conf)

    sources = [folder.uri + info.path[len(folder.path) :] for info in data]
    first = hadoop.ParquetFileReader.open(input_file(sources[0]))
    try:
        footer = first.getFooter().getFileMetaData()
        schema, metadata = footer.getSchema(), footer.getKeyValueMetaData()
    finally:
        first.close()
    token = uuid.uuid4().hex
    for number, run in enumerate(groups([info.size or 0 for info in data], wanted)):
        target = jvm.org.apache.hadoop.fs.Path(f"{folder.uri}/part-{number:05d}-{token}.parquet")
        out = hadoop.util.HadoopOutputFile.fromPath(target, conf)
        writer = hadoop.ParquetFileWriter(out, schema, mode, ROW_GROUP_BYTES, NO_PADDING)
        try:
            writer.start()
            for index in run:
                writer.appendFile(input_file(sources[index]))
            writer.end(metadata)
        except Exception:
            # The write fails and its staging goes (day_swap); this releases the stream.
            writer.abort()
            raise
    # Through Hadoop's filesystem, which also removes what it keeps beside a file (a local
    # folder's .crc checksums).
    for uri in sources:
        path = jvm.org.apache.hadoop.fs.Path(uri)
        path.getFileSystem(conf).delete(path, False)
    return True
