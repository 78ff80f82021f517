"""A second, independent implementation of docs/dataset.md: DuckDB SQL over the source files.

Written from the contract's text, not from the Spark code (no shared helpers, different shapes:
distinct counts straight from the pings, install days by unnesting), so that the two agree only
if both read the contract the same way. Used by the differential tests and as the single-machine
peer in the benchmarks.
"""

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from addon_okrs.storage.catalog import ADDON_AGGREGATES, ADDONS, MAIN_SUMMARY, TableSpec

DEFAULT_THEME = "{972ce4c6-7e08-4474-a285-3208198ce6fd}"

QUERY = """
WITH
a AS (
    SELECT CAST(submission_date_s3 AS VARCHAR) AS d, client_id,
           COALESCE(normalized_channel, 'Other') AS ch,
           COALESCE(foreign_install, FALSE) AS fi, addon_id
    FROM read_parquet($addons, hive_partitioning = true, union_by_name = true)
    WHERE is_system = FALSE AND user_disabled = FALSE AND app_disabled = FALSE
      AND client_id IS NOT NULL
),
m AS (
    SELECT CAST(submission_date_s3 AS VARCHAR) AS d, client_id,
           COALESCE(normalized_channel, 'Other') AS ch,
           profile_creation_date, active_addons, active_theme.addon_id AS theme_id
    FROM read_parquet($main_summary, hive_partitioning = true, union_by_name = true)
    WHERE client_id IS NOT NULL
),
grain AS (
    SELECT d, client_id, ch, fi, COUNT(DISTINCT addon_id) AS n_addons
    FROM a GROUP BY d, client_id, ch, fi
),
kinds AS (
    SELECT d, client_id, ch, SUM(IF(fi, 1, -1)) AS user_type FROM grain GROUP BY d, client_id, ch
),
profiles AS (
    SELECT d, client_id, MIN(profile_creation_date) AS pcd FROM m GROUP BY d, client_id
),
installs AS (
    SELECT d, client_id, MIN(addon.install_day) AS mid
    FROM (SELECT d, client_id, UNNEST(active_addons) AS addon FROM m)
    GROUP BY d, client_id
),
themes AS (
    SELECT d, client_id, ch,
           SUM(DISTINCT IF(theme_id IS NOT NULL AND theme_id <> $default_theme, 1, -1)) AS theme
    FROM m GROUP BY d, client_id, ch
),
clients AS (
    SELECT d, ch, COUNT(DISTINCT client_id) AS n FROM m GROUP BY d, ch
),
custom AS (
    SELECT d, ch, COUNT(DISTINCT client_id) AS n FROM themes WHERE theme >= 0 GROUP BY d, ch
)
SELECT g.d AS submission_date_s3,
       g.ch::VARCHAR AS normalized_channel,
       g.client_id::VARCHAR AS client_id,
       g.fi::BOOLEAN AS foreign_install,
       g.n_addons::BIGINT AS count,
       k.user_type::BIGINT AS user_type,
       p.pcd::BIGINT AS profile_creation_date,
       i.mid::INTEGER AS min_install_day,
       t.theme::BIGINT AS has_custom_theme,
       COALESCE(cu.n, 0)::INTEGER AS n_custom_theme_clients,
       COALESCE(cl.n, 0)::INTEGER AS n_clients
FROM grain g
JOIN kinds k USING (d, client_id, ch)
LEFT JOIN profiles p USING (d, client_id)
LEFT JOIN installs i USING (d, client_id)
LEFT JOIN themes t USING (d, client_id, ch)
LEFT JOIN clients cl USING (d, ch)
LEFT JOIN custom cu USING (d, ch)
"""


def _query_params(source_root: Path, days: Sequence[str]) -> dict[str, object]:
    def files(table: TableSpec) -> list[str]:
        return [str(source_root / table.day_path(d) / "**" / "*.parquet") for d in days]

    return {
        "addons": files(ADDONS),
        "main_summary": files(MAIN_SUMMARY),
        "default_theme": DEFAULT_THEME,
    }


def reference_addon_aggregates(source_root: Path, days: Sequence[str]) -> pa.Table:
    """addons/agg/v1 rows of the given days (with the day as first column), from local files."""
    with duckdb.connect() as con:
        return con.sql(QUERY, params=_query_params(source_root, days)).to_arrow_table()


def write_reference_addon_aggregates(source_root: Path, days: Sequence[str], target: Path) -> int:
    """The same rows written by DuckDB straight into one parquet file (its COPY ... TO), never
    held in Python: what the benchmark times at every size. Returns the rows written."""
    with duckdb.connect() as con:
        con.sql(QUERY, params=_query_params(source_root, days)).write_parquet(str(target))
    return int(pq.read_metadata(target).num_rows)


OKR_QUERY = """
WITH
r AS (
    SELECT CAST(submission_date_s3 AS VARCHAR) AS d, *,
           DATE_DIFF('day', DATE '1970-01-01',
                     STRPTIME(CAST(submission_date_s3 AS VARCHAR), '%Y%m%d')::DATE) AS day_number
    FROM read_parquet($files, hive_partitioning = true)
),
channels AS (
    SELECT d, normalized_channel,
           MAX(n_clients)::BIGINT AS n_clients,
           COUNT(DISTINCT client_id)::BIGINT AS n_clients_with_addons,
           COUNT(DISTINCT client_id) FILTER (WHERE NOT foreign_install)::BIGINT AS self_installers,
           COALESCE(SUM(count) FILTER (WHERE NOT foreign_install), 0)::BIGINT
               AS self_installed_addons,
           COUNT(DISTINCT client_id) FILTER (
               WHERE NOT foreign_install
                 AND profile_creation_date BETWEEN day_number - 13 AND day_number
           )::BIGINT AS new_profile_self_installers
    FROM r GROUP BY d, normalized_channel
),
everything AS (
    SELECT d, 'all' AS normalized_channel,
           SUM(n_clients)::BIGINT, SUM(n_clients_with_addons)::BIGINT,
           SUM(self_installers)::BIGINT, SUM(self_installed_addons)::BIGINT,
           SUM(new_profile_self_installers)::BIGINT
    FROM channels GROUP BY d
),
rows AS (SELECT * FROM channels UNION ALL SELECT * FROM everything)
SELECT d AS submission_date_s3, normalized_channel::VARCHAR AS normalized_channel, n_clients,
       n_clients_with_addons, self_installers,
       CASE WHEN n_clients > 0 THEN self_installers::DOUBLE / n_clients::DOUBLE END
           AS self_installer_share,
       self_installed_addons,
       CASE WHEN n_clients > 0 THEN self_installed_addons::DOUBLE / n_clients::DOUBLE END
           AS addons_per_profile,
       new_profile_self_installers
FROM rows
"""


def reference_okr_metrics(output_root: Path, days: Sequence[str]) -> pa.Table:
    """addons/okr/v1 rows of the given days (the day first), from the published addons/agg/v1
    files under `output_root`: DuckDB SQL written from the contract, sharing nothing with the
    Spark code."""
    files = [str(output_root / ADDON_AGGREGATES.day_path(d) / "*.parquet") for d in days]
    with duckdb.connect() as con:
        return con.sql(OKR_QUERY, params={"files": files}).to_arrow_table()
