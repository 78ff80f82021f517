"""The 2017 notebook's plan, as a benchmark contender: the anchor users compare with.

A re-implementation of the plan the original notebook ran for one day, on the same Spark
session settings as every other contender. It keeps what made that plan what it was, and so
also its known bugs (docs/dataset.md, "Where this differs from the notebook"):

- main_summary read with schema merging, filtered to the day, then scanned by three separate
  branches (themes, install days, client counts);
- the install-type and theme signs computed by a Python UDF (a round trip through a Python
  worker for every row);
- `distinct()` before each grouping, inner joins to the per-channel counts;
- a `count()` of the whole result to size the files, then a repartition, then the write: the
  plan runs twice.

`explain_differences` compares its output with the contract's (the DuckDB reference) and
attributes every differing row to one of the known bugs; a row it cannot attribute is counted
as unexplained, and the benchmark reports that count.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType

from addon_okrs.dataset.schema import DAY, DEFAULT_THEME_ID
from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDONS, MAIN_SUMMARY, TableSpec

# The notebook's file sizing: 280 MB files of 39-byte records.
TARGET_FILE_BYTES = 280 * 1_000_000
RECORD_BYTES = 39


def notebook_plan(spark: SparkSession, source_root: str, day: str) -> DataFrame:
    """The notebook's addons/agg/v1 plan for `day`, unexecuted."""
    # +1 for true, -1 for false or unknown: the notebook's bool-to-int Python UDF.
    sign = F.udf(lambda flag: 1 if flag is True else -1, IntegerType())
    addons = (
        spark.read.parquet(f"{source_root}/{ADDONS.path}")
        .where(F.col(DAY) == F.lit(day))
        .where(
            (F.col("is_system") == F.lit(False))
            & (F.col("user_disabled") == F.lit(False))
            & (F.col("app_disabled") == F.lit(False))
        )
    )
    pings = (
        spark.read.option("mergeSchema", "true")
        .parquet(f"{source_root}/{MAIN_SUMMARY.path}")
        .where(F.col(DAY) == F.lit(day))
    )

    grain = ["client_id", DAY, "normalized_channel"]
    per_install_type = (
        addons.select(*grain, "foreign_install", "addon_id")
        .distinct()
        .groupBy(*grain, "foreign_install")
        .count()
    )
    kinds = (
        per_install_type.select(*grain, sign("foreign_install").alias("user_type"))
        .groupBy(*grain)
        .agg(F.sum("user_type").alias("user_type"))
    )
    per_install_type = per_install_type.join(kinds, on=grain)

    custom_theme = F.col("active_theme.addon_id") != F.lit(DEFAULT_THEME_ID)
    themes = (
        pings.select("client_id", "normalized_channel", sign(custom_theme).alias("theme"))
        .distinct()
        .groupBy("client_id", "normalized_channel")
        .agg(F.sum("theme").alias("has_custom_theme"))
    )
    installs = (
        pings.select(
            "client_id", "profile_creation_date", F.explode("active_addons").alias("addon")
        )
        .groupBy("client_id", "profile_creation_date")
        .agg(F.min("addon.install_day").alias("min_install_day"))
    )
    rows = (
        per_install_type.join(installs, on="client_id", how="left")
        .join(themes, on=["client_id", "normalized_channel"], how="left")
        .drop(DAY)
    )
    clients = (
        pings.select("client_id", "normalized_channel")
        .distinct()
        .groupBy("normalized_channel")
        .agg(F.count(F.lit(1)).alias("n_clients"))
    )
    custom_clients = (
        themes.where(F.col("has_custom_theme") >= F.lit(0))
        .select("client_id", "normalized_channel")
        .distinct()
        .groupBy("normalized_channel")
        .agg(F.count(F.lit(1)).alias("n_custom_theme_clients"))
    )
    rows = rows.join(custom_clients, on="normalized_channel").join(clients, on="normalized_channel")
    return rows.withColumn("n_clients", F.col("n_clients").cast("int")).withColumn(
        "n_custom_theme_clients", F.col("n_custom_theme_clients").cast("int")
    )


def run_notebook(spark: SparkSession, source_root: str, output_root: str, day: str) -> int:
    """Build and write one day as the notebook did: count the rows, repartition to the file
    count that count implies, write. Returns the counted rows."""
    rows = notebook_plan(spark, source_root, day)
    total = rows.count()
    files = math.ceil(total / (TARGET_FILE_BYTES / RECORD_BYTES))
    if files != rows.rdd.getNumPartitions():
        rows = rows.repartition(max(1, files))
    rows.write.mode("overwrite").parquet(f"{output_root}/{ADDON_AGGREGATES.day_path(day)}")
    return total


@dataclass
class Differences:
    """How the notebook's rows of a day differ from the contract's, by cause."""

    spec_rows: int
    notebook_rows: int
    equal_rows: int
    # the bugs (docs/dataset.md numbers, e.g. "3" or "4 5" for a row both change) -> rows
    explained: dict[str, int] = field(default_factory=dict)
    unexplained: int = 0


# Every row of either output, keyed by (channel, client, install type), with the facts that
# the known bugs depend on. One row per key and side; the notebook's duplicated keys (bug 4)
# are counted before.
COMPARE = """
WITH
nb AS (
    SELECT normalized_channel AS ch, client_id, foreign_install AS fi, count, user_type,
           profile_creation_date AS pcd, min_install_day AS mid, has_custom_theme AS theme,
           n_custom_theme_clients AS n_custom, n_clients,
           COUNT(*) OVER (PARTITION BY normalized_channel, client_id, foreign_install) AS copies
    FROM read_parquet($notebook)
),
spec AS (
    SELECT normalized_channel AS ch, client_id, foreign_install AS fi, count, user_type,
           profile_creation_date AS pcd, min_install_day AS mid, has_custom_theme AS theme,
           n_custom_theme_clients AS n_custom, n_clients
    FROM spec_table
),
a AS (
    SELECT client_id, COALESCE(normalized_channel, 'Other') AS ch, foreign_install
    FROM read_parquet($addons, union_by_name = true)
    WHERE is_system = FALSE AND user_disabled = FALSE AND app_disabled = FALSE
),
m AS (
    SELECT client_id, COALESCE(normalized_channel, 'Other') AS ch, profile_creation_date,
           active_addons
    FROM read_parquet($main_summary, union_by_name = true)
),
-- bug 3: a (client, channel) with an add-on of unknown install type
unknown_install AS (
    SELECT DISTINCT client_id, ch FROM a WHERE client_id IS NOT NULL AND foreign_install IS NULL
),
-- bug 4: a client with a ping without add-ons, or pings with add-ons on two creation dates
per_profile AS (
    SELECT client_id,
           BOOL_OR(active_addons IS NULL OR LEN(active_addons) = 0) AS ping_without_addons,
           COUNT(DISTINCT COALESCE(profile_creation_date, -1))
               FILTER (WHERE LEN(active_addons) > 0) AS profiles_with_addons
    FROM m WHERE client_id IS NOT NULL GROUP BY client_id
),
install_days_differ AS (
    SELECT client_id FROM per_profile WHERE ping_without_addons OR profiles_with_addons > 1
),
-- bug 5: a channel with pings of no client
phantom AS (SELECT DISTINCT ch FROM m WHERE client_id IS NULL),
-- bug 1: a channel the notebook's inner joins drop (no custom-theme client, phantom
-- included, or absent from main_summary)
custom_channels AS (
    SELECT DISTINCT ch FROM (
        SELECT client_id, ch,
               SUM(DISTINCT CASE WHEN theme_id IS DISTINCT FROM $default_theme
                                  AND theme_id IS NOT NULL THEN 1 ELSE -1 END) AS t
        FROM (SELECT client_id, COALESCE(normalized_channel, 'Other') AS ch,
                     active_theme.addon_id AS theme_id
              FROM read_parquet($main_summary, union_by_name = true))
        GROUP BY client_id, ch
    ) WHERE t >= 0
),
joined AS (
    SELECT COALESCE(s.ch, n.ch) AS ch, COALESCE(s.client_id, n.client_id) AS client_id,
           s.ch IS NOT NULL AS in_spec, n.ch IS NOT NULL AS in_notebook,
           n.copies,
           (s.count, s.user_type, s.pcd, s.mid, s.theme, s.n_custom, s.n_clients)
               IS NOT DISTINCT FROM
           (n.count, n.user_type, n.pcd, n.mid, n.theme, n.n_custom, n.n_clients) AS same,
           (s.count, s.user_type) IS NOT DISTINCT FROM (n.count, n.user_type) AS same_counts,
           (s.pcd, s.mid) IS NOT DISTINCT FROM (n.pcd, n.mid) AS same_install_days,
           s.theme IS NOT DISTINCT FROM n.theme AS same_theme,
           (s.n_custom, s.n_clients) IS NOT DISTINCT FROM (n.n_custom, n.n_clients)
               AS same_channel_counts,
           n.fi IS NULL AND n.ch IS NOT NULL AS notebook_unknown_install
    FROM spec s FULL JOIN nb n
      ON s.ch = n.ch AND s.client_id = n.client_id AND s.fi = n.fi
),
facts AS (
    SELECT j.*,
           u.client_id IS NOT NULL AS has_unknown_install,
           i.client_id IS NOT NULL AS install_days_differ,
           p.ch IS NOT NULL AS phantom_channel,
           c.ch IS NOT NULL AS custom_channel
    FROM joined j
    LEFT JOIN unknown_install u ON u.client_id = j.client_id AND u.ch = j.ch
    LEFT JOIN install_days_differ i ON i.client_id = j.client_id
    LEFT JOIN phantom p ON p.ch = j.ch
    LEFT JOIN custom_channels c ON c.ch = j.ch
)
SELECT
    CASE
        WHEN in_spec AND in_notebook THEN
            CASE
                WHEN same AND copies = 1 THEN 'equal'
                WHEN NOT same_theme
                  OR (NOT same_counts AND NOT has_unknown_install)
                  OR ((copies > 1 OR NOT same_install_days) AND NOT install_days_differ)
                  OR (NOT same_channel_counts AND NOT phantom_channel) THEN 'unexplained'
                ELSE CONCAT_WS(' ',
                    CASE WHEN NOT same_counts THEN '3' END,
                    CASE WHEN copies > 1 OR NOT same_install_days THEN '4' END,
                    CASE WHEN NOT same_channel_counts THEN '5' END)
            END
        -- only in the contract's output
        WHEN in_spec THEN
            CASE
                WHEN ch = 'Other' THEN '2'
                WHEN NOT custom_channel THEN '1'
                WHEN has_unknown_install THEN '3'
                ELSE 'unexplained'
            END
        -- only in the notebook's output: an unknown install type as a group of its own
        WHEN notebook_unknown_install THEN '3'
        ELSE 'unexplained'
    END AS cause,
    COUNT(*) AS n
FROM facts GROUP BY cause ORDER BY cause
"""


def explain_differences(
    notebook_folder: Path, spec: pa.Table, source_root: Path, day: str
) -> Differences:
    """Compares the notebook's output folder for `day` with the contract's rows of that day
    (the DuckDB reference), attributing each differing row to a known bug."""

    def files(table: TableSpec) -> str:
        return str(source_root / table.day_path(day) / "**" / "*.parquet")

    spec_table = spec.drop_columns([DAY]) if DAY in spec.column_names else spec
    with duckdb.connect() as con:
        con.register("spec_table", spec_table)
        params = {
            "notebook": str(notebook_folder / "*.parquet"),
            "addons": files(ADDONS),
            "main_summary": files(MAIN_SUMMARY),
            "default_theme": DEFAULT_THEME_ID,
        }
        counts = dict(con.sql(COMPARE, params=params).fetchall())
        ((notebook_rows,),) = con.sql(
            "SELECT COUNT(*) FROM read_parquet($f)", params={"f": params["notebook"]}
        ).fetchall()
    return Differences(
        spec_rows=spec_table.num_rows,
        notebook_rows=int(notebook_rows),
        equal_rows=int(counts.pop("equal", 0)),
        unexplained=int(counts.pop("unexplained", 0)),
        explained={str(k): int(v) for k, v in counts.items()},
    )
