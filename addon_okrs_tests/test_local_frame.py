"""The few rows a step holds in Python reach Spark as Arrow: a frame of exactly the schema,
built in the JVM (a local table scan, no Python worker to read the rows), empty days included;
the OKR metrics' own list of run days is built the same way."""

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from addon_okrs.dataset.local_frame import local_frame
from addon_okrs.dataset.okr_metrics import okr_metrics
from addon_okrs.dataset.schema import ADDON_AGGREGATES_SCHEMA, DAY
from addon_okrs_tests.builders import with_day

SCHEMA = T.StructType(
    [
        T.StructField(DAY, T.StringType()),
        T.StructField("n_clients", T.LongType()),
        T.StructField("share", T.DoubleType()),
        T.StructField("flag", T.BooleanType()),
    ]
)


def plan(frame: DataFrame) -> str:
    return str(frame._jdf.queryExecution().executedPlan().toString())


def test_rows_become_a_local_table_of_exactly_the_schema(spark: SparkSession) -> None:
    rows = [("20170501", 3, 0.5, True), ("20170502", None, None, None)]

    frame = local_frame(spark, rows, SCHEMA)

    assert frame.schema == SCHEMA
    assert [tuple(r) for r in frame.collect()] == rows
    # Rows read by a Python worker would show as "Scan ExistingRDD".
    assert plan(frame).splitlines()[0].startswith("LocalTableScan [")


def test_no_rows_give_an_empty_frame_of_the_schema(spark: SparkSession) -> None:
    frame = local_frame(spark, [], with_day(ADDON_AGGREGATES_SCHEMA))

    assert frame.schema == with_day(ADDON_AGGREGATES_SCHEMA)
    assert frame.collect() == []
    assert plan(frame).startswith("LocalTableScan <empty>")


def test_okr_metrics_of_a_day_without_rows_reads_nothing_through_python(
    spark: SparkSession,
) -> None:
    empty = local_frame(spark, [], with_day(ADDON_AGGREGATES_SCHEMA))

    frame = okr_metrics(empty, ["20170501"])

    assert "ExistingRDD" not in plan(frame)
    assert [tuple(r) for r in frame.collect()] == [("20170501", "all", 0, 0, 0, None, 0, None, 0)]
