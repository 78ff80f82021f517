"""Asset checks on addons/agg/v1: each rule of the output contract as a plain function that
returns the violating rows, and a thin Dagster check that reports how many and shows a few."""

from collections.abc import Callable
from typing import Any

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from addon_okrs.assets import addon_aggregates
from addon_okrs.catalog import ADDON_AGGREGATES
from addon_okrs.partitions import daily_partitions
from addon_okrs.resources.warehouse import WarehouseResource
from addon_okrs.schema import DAY

GRAIN = [DAY, "client_id", "normalized_channel", "foreign_install"]
SAMPLE_ROWS = 5


def duplicate_grain_rows(aggregates: DataFrame) -> DataFrame:
    """Rows whose (day, client, channel, install type) appears more than once."""
    per_grain = Window.partitionBy(*GRAIN)
    return (
        aggregates.withColumn("_rows", F.count(F.lit(1)).over(per_grain))
        .where("_rows > 1")
        .drop("_rows")
    )


def out_of_range_rows(aggregates: DataFrame) -> DataFrame:
    """user_type and has_custom_theme outside -1/0/1 (theme may be null), or count below 1."""
    signs = [-1, 0, 1]
    bad_user_type = F.col("user_type").isNull() | ~F.col("user_type").isin(signs)
    bad_theme = F.col("has_custom_theme").isNotNull() & ~F.col("has_custom_theme").isin(signs)
    bad_count = F.col("count").isNull() | (F.col("count") < 1)
    return aggregates.where(bad_user_type | bad_theme | bad_count)


def inconsistent_channel_count_rows(aggregates: DataFrame) -> DataFrame:
    """More custom-theme clients than clients, or counts that differ within a day/channel."""
    channel = [DAY, "normalized_channel"]
    # A grouping, not a window: it folds each day/channel before the shuffle, and the few
    # varying channels are broadcast back to flag their rows.
    spread = aggregates.groupBy(*channel).agg(
        (
            (F.min("n_clients") != F.max("n_clients"))
            | (F.min("n_custom_theme_clients") != F.max("n_custom_theme_clients"))
        ).alias("_varies")
    )
    too_many_custom = F.col("n_custom_theme_clients") > F.col("n_clients")
    return (
        aggregates.join(F.broadcast(spread.where("_varies")), on=channel, how="left")
        .where(too_many_custom | F.col("_varies").isNotNull())
        .drop("_varies")
    )


def null_key_rows(aggregates: DataFrame) -> DataFrame:
    keys = ["normalized_channel", "client_id", "foreign_install"]
    any_null = F.lit(False)
    for key in keys:
        any_null = any_null | F.col(key).isNull()
    return aggregates.where(any_null)


def row_count_changes(
    rows_by_day: dict[str, int], days: list[str], max_change: float
) -> dict[str, dict[str, Any]]:
    """For each run day, its change against the previous day available; those beyond max_change."""
    moved = {}
    for day in days:
        earlier = [d for d in rows_by_day if d < day]
        if not earlier or day not in rows_by_day:
            continue
        previous_day = max(earlier)
        previous, current = rows_by_day[previous_day], rows_by_day[day]
        change = abs(current - previous) / previous if previous else float(current > 0)
        if change > max_change:
            moved[day] = {
                "rows": current,
                "previous_day": previous_day,
                "previous_rows": previous,
                "change": round(change, 4),
            }
    return moved


def _result(violations: DataFrame, rule: str) -> dg.AssetCheckResult:
    by_day = {r[DAY]: r["count"] for r in violations.groupBy(DAY).count().collect()}
    failed = sum(by_day.values())
    metadata: dict[str, Any] = {
        "failed_rows": failed,
        "failed_rows_by_day": dg.MetadataValue.json(by_day),
    }
    if failed:
        sample = [row.asDict() for row in violations.limit(SAMPLE_ROWS).collect()]
        metadata["sample"] = dg.MetadataValue.json(sample)
    return dg.AssetCheckResult(
        passed=failed == 0,
        metadata=metadata,
        description=f"{failed} row(s) break the rule: {rule}"
        if failed
        else f"every row keeps the rule: {rule}",
    )


def _blocking_check(
    name: str, description: str
) -> Callable[[Callable[..., dg.AssetCheckResult]], dg.AssetChecksDefinition]:
    return dg.asset_check(
        asset=addon_aggregates,
        name=name,
        description=description,
        blocking=True,
        partitions_def=daily_partitions,
    )


@_blocking_check(
    "grain_is_unique", "One row per (client_id, normalized_channel, foreign_install) a day."
)
def grain_is_unique(addon_aggregates: DataFrame) -> dg.AssetCheckResult:
    return _result(
        duplicate_grain_rows(addon_aggregates), "one row per client, channel and install type"
    )


@_blocking_check(
    "values_in_range", "user_type and has_custom_theme in -1/0/1 (theme may be null); count >= 1."
)
def values_in_range(addon_aggregates: DataFrame) -> dg.AssetCheckResult:
    return _result(
        out_of_range_rows(addon_aggregates), "user_type, has_custom_theme in -1/0/1, count >= 1"
    )


@_blocking_check(
    "channel_counts_consistent",
    "n_custom_theme_clients <= n_clients, both constant within a day/channel.",
)
def channel_counts_consistent(addon_aggregates: DataFrame) -> dg.AssetCheckResult:
    return _result(
        inconsistent_channel_count_rows(addon_aggregates),
        "n_custom_theme_clients <= n_clients, constant per channel",
    )


@_blocking_check("keys_not_null", "No null normalized_channel, client_id or foreign_install.")
def keys_not_null(addon_aggregates: DataFrame) -> dg.AssetCheckResult:
    return _result(
        null_key_rows(addon_aggregates), "no null normalized_channel, client_id, foreign_install"
    )


class RowCountConfig(dg.Config):
    max_change: float = Field(default=0.30, description="largest share the row count may move")


@dg.asset_check(
    asset=addon_aggregates,
    description="Warns when a day's row count moved more than max_change from the previous "
    "day available.",
    partitions_def=daily_partitions,
)
def row_count_stable(
    context: dg.AssetCheckExecutionContext,
    config: RowCountConfig,
    warehouse: dg.ResourceParam[WarehouseResource],
) -> dg.AssetCheckResult:
    # Footers only: no data is read to count rows.
    table = warehouse.get().table(ADDON_AGGREGATES.name)
    rows_by_day = {day: table.row_count(day) for day in table.written_days()}
    days = list(context.partition_keys)
    moved = row_count_changes(rows_by_day, days, config.max_change)
    return dg.AssetCheckResult(
        passed=not moved,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "failed_days": len(moved),
            "moved": dg.MetadataValue.json(moved),
            "rows_by_day": dg.MetadataValue.json({d: rows_by_day.get(d) for d in days}),
        },
    )


addon_aggregates_checks = [
    grain_is_unique,
    values_in_range,
    channel_counts_consistent,
    keys_not_null,
    row_count_stable,
]
