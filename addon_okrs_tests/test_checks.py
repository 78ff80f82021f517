"""Each blocking rule, fed days that break it, finds exactly the violating rows of each day;
the row-count rule compares a day with the previous day available."""

from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from addon_okrs.dataset import rules
from addon_okrs_tests.builders import aggregate_row, aggregates_df

D1, D2 = "20170501", "20170502"


row = aggregate_row


def frame(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return aggregates_df(spark, rows)


def found(
    spark: SparkSession, rule: str, rows: list[dict[str, Any]], days: tuple[str, ...] = (D1,)
) -> dict[str, rules.Finding]:
    """The rule's finding for each day."""
    [chosen] = [r for r in rules.BLOCKING_RULES if r.name == rule]
    return {f.day: f for f in rules.audit(frame(spark, rows), list(days), [chosen])}


def test_grain_is_unique_counts_every_duplicated_row_per_day(spark: SparkSession) -> None:
    rows = [
        row("c1"),
        row("c1"),
        row("c1"),
        row("c2"),
        row("c1", foreign_install=True, user_type=0),
        row("c1", day=D2),  # the same client on another day is another grain
    ]

    findings = found(spark, "grain_is_unique", rows, (D1, D2))

    assert (findings[D1].failed_rows, findings[D2].failed_rows) == (3, 0)
    assert not findings[D1].passed and findings[D2].passed
    assert [r["client_id"] for r in findings[D1].sample] == ["c1", "c1", "c1"]
    assert findings[D2].sample == []


def test_values_in_range_flags_bad_user_type_theme_and_count(spark: SparkSession) -> None:
    rows = [
        row("c1", user_type=2),
        row("c2", has_custom_theme=-2),
        row("c3", count=0),
        row("c4", has_custom_theme=None),  # no ping on the channel: allowed
        row("c5", has_custom_theme=0, user_type=0),
    ]

    [finding] = found(spark, "values_in_range", rows).values()

    assert finding.failed_rows == 3
    assert sorted(r["client_id"] for r in finding.sample) == ["c1", "c2", "c3"]
    assert finding.describe() == (
        "3 row(s) break the rule: user_type and has_custom_theme in -1/0/1 (theme may be null), "
        "count >= 1"
    )


def test_channel_counts_consistent_flags_too_many_custom_and_varying_counts(
    spark: SparkSession,
) -> None:
    rows = [
        row("c1", normalized_channel="beta", n_custom_theme_clients=4, n_clients=3),
        row("c2", normalized_channel="beta", n_custom_theme_clients=4, n_clients=3),
        row("c3", normalized_channel="nightly", n_clients=5),
        row("c4", normalized_channel="nightly", n_clients=6),
        row("c5", normalized_channel="release"),
        row("c6", normalized_channel="release"),
    ]

    [finding] = found(spark, "channel_counts_consistent", rows).values()

    assert finding.failed_rows == 4
    assert sorted(r["client_id"] for r in finding.sample) == ["c1", "c2", "c3", "c4"]


def test_keys_not_null_counts_rows_with_a_null_key(spark: SparkSession) -> None:
    rows = [row(None), row("c2", normalized_channel=None), row("c3", foreign_install=None), row()]

    [finding] = found(spark, "keys_not_null", rows).values()

    assert finding.failed_rows == 3


def test_a_good_day_keeps_every_blocking_rule(spark: SparkSession) -> None:
    rows = [row("c1"), row("c1", foreign_install=True, user_type=0), row("c2")]

    context = spark.sparkContext
    context.setJobGroup("audit-good-day", "the audit's jobs")
    try:
        findings = rules.audit(frame(spark, rows), [D1])
        jobs = len(context.statusTracker().getJobIdsForGroup("audit-good-day"))
    finally:
        context.setJobGroup(None, None)  # type: ignore[arg-type]

    # One counting query for every rule, no samples: 4 jobs (AQE submits the window's and the
    # grouping's shuffles and the channel spread's broadcast as jobs of their own), where a
    # query per rule took 7.
    assert jobs == 4
    assert [(f.rule.name, f.day, f.failed_rows) for f in findings] == [
        ("grain_is_unique", D1, 0),
        ("values_in_range", D1, 0),
        ("channel_counts_consistent", D1, 0),
        ("keys_not_null", D1, 0),
    ]


def test_every_rule_is_counted_on_every_day_at_once(spark: SparkSession) -> None:
    rows = [
        row("c1"),
        row("c1"),  # D1: a duplicated grain
        row("c2", user_type=2),  # D1: out of range
        row("c3", day=D2, normalized_channel=None),  # D2: a null key
        row("c4", day=D2, count=0),  # D2: out of range
        row("c5", day=D2),
    ]
    findings = rules.audit(frame(spark, rows), [D1, D2])

    assert [(f.rule.name, f.day, f.failed_rows) for f in findings] == [
        ("grain_is_unique", D1, 2),
        ("grain_is_unique", D2, 0),
        ("values_in_range", D1, 1),
        ("values_in_range", D2, 1),
        ("channel_counts_consistent", D1, 0),
        ("channel_counts_consistent", D2, 0),
        ("keys_not_null", D1, 0),
        ("keys_not_null", D2, 1),
    ]
    assert [len(f.sample) for f in findings] == [2, 0, 1, 1, 0, 0, 0, 1]


@pytest.mark.parametrize(("max_change", "moved"), [(0.30, True), (0.50, False)])
def test_row_count_stable_compares_with_the_previous_day_available(
    max_change: float, moved: bool
) -> None:
    rows_by_day = {"20170428": 50, "20170430": 10, D1: 14}  # D1: +40 % on 20170430

    changes = rules.row_count_changes(rows_by_day, ["20170428", D1], max_change)

    assert changes == {
        "20170428": {"rows": 50, "previous_day": None, "moved": False},
        D1: {
            "rows": 14,
            "previous_day": "20170430",
            "previous_rows": 10,
            "change": 0.4,
            "moved": moved,
        },
    }
