"""The rules addons/agg/v1 keeps before a day is published: each a plain function returning the
violating rows, `audit` running them on the staged days, and the row-count comparison with the
previous day. Dagster reports them as addon_aggregates' checks (defs/checks.py)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from addon_okrs.dataset.schema import DAY

GRAIN = [DAY, "client_id", "normalized_channel", "foreign_install"]
SAMPLE_ROWS = 5


def duplicate_grain_rows(aggregates: DataFrame) -> DataFrame:
    """Rows whose (day, client, channel, install type) appears more than once."""
    # The client id leads the window's keys: Spark sorts on a prefix of the first key, and the
    # day is the same on every row of a one-day run (docs/performance.md).
    per_grain = Window.partitionBy("client_id", *(k for k in GRAIN if k != "client_id"))
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


@dataclass(frozen=True)
class Rule:
    """A blocking rule: a day with any violating row is not published."""

    name: str
    statement: str
    violations: Callable[[DataFrame], DataFrame]


BLOCKING_RULES: tuple[Rule, ...] = (
    Rule(
        "grain_is_unique",
        "one row per (client_id, normalized_channel, foreign_install) a day",
        duplicate_grain_rows,
    ),
    Rule(
        "values_in_range",
        "user_type and has_custom_theme in -1/0/1 (theme may be null), count >= 1",
        out_of_range_rows,
    ),
    Rule(
        "channel_counts_consistent",
        "n_custom_theme_clients <= n_clients, both constant within a day and channel",
        inconsistent_channel_count_rows,
    ),
    Rule(
        "keys_not_null",
        "no null normalized_channel, client_id or foreign_install",
        null_key_rows,
    ),
)
ROW_COUNT_STABLE = "row_count_stable"


@dataclass(frozen=True)
class Finding:
    """What one rule found on one day."""

    rule: Rule
    day: str
    failed_rows: int
    sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failed_rows == 0

    def describe(self) -> str:
        if self.passed:
            return f"every row keeps the rule: {self.rule.statement}"
        return f"{self.failed_rows} row(s) break the rule: {self.rule.statement}"


def audit(
    frame: DataFrame, days: Sequence[str], rules: Sequence[Rule] = BLOCKING_RULES
) -> list[Finding]:
    """Every rule on every day of `frame` (a day column and the output's columns): one finding
    per rule and day, with up to SAMPLE_ROWS violating rows of a day that fails. The rules'
    violations are counted by one Spark job (their plans unioned), not a job per rule."""
    if not rules:
        return []
    violations = [rule.violations(frame) for rule in rules]
    tagged = [
        rows.select(F.lit(index).alias("_rule"), F.col(DAY))
        for index, rows in enumerate(violations)
    ]
    counted = reduce(DataFrame.unionAll, tagged).groupBy("_rule", DAY).count().collect()
    failed_rows = {(r["_rule"], r[DAY]): r["count"] for r in counted}
    findings = []
    for index, (rule, rows) in enumerate(zip(rules, violations, strict=True)):
        for day in days:
            failed = failed_rows.get((index, day), 0)
            sample = (
                [row.asDict() for row in rows.where(F.col(DAY) == day).limit(SAMPLE_ROWS).collect()]
                if failed
                else []
            )
            findings.append(Finding(rule, day, failed, sample))
    return findings


def row_count_changes(
    rows_by_day: dict[str, int], days: Sequence[str], max_change: float
) -> dict[str, dict[str, Any]]:
    """For each run day, its row count against the previous day available: the rows, the
    previous day and its rows, the change, and whether it moved beyond max_change."""
    changes: dict[str, dict[str, Any]] = {}
    for day in days:
        earlier = [d for d in rows_by_day if d < day]
        if not earlier or day not in rows_by_day:
            changes[day] = {"rows": rows_by_day.get(day), "previous_day": None, "moved": False}
            continue
        previous_day = max(earlier)
        previous, current = rows_by_day[previous_day], rows_by_day[day]
        change = abs(current - previous) / previous if previous else float(current > 0)
        changes[day] = {
            "rows": current,
            "previous_day": previous_day,
            "previous_rows": previous,
            "change": round(change, 4),
            "moved": change > max_change,
        }
    return changes
