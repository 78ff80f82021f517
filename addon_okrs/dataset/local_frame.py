"""A frame of the few rows a step holds in Python (the run's days, a day's OKR numbers, an
empty day's schema), handed to Spark as Arrow. Spark builds it in the JVM; a createDataFrame of
Python rows instead starts Python worker processes to read them, about 1.3 CPU-s in every run
that does it (docs/performance.md, "Round four")."""

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema


def local_frame(
    spark: SparkSession, rows: Sequence[Sequence[Any]], schema: T.StructType
) -> DataFrame:
    """`rows` (tuples in `schema`'s column order) as a Spark frame of exactly `schema`."""
    arrow_schema = to_arrow_schema(schema)
    names = schema.fieldNames()
    table = pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in rows], arrow_schema)
    return spark.createDataFrame(table, schema)
