"""addons/okr/v1 from addons/agg/v1: the contract's worked example, the new-profile window's
edges, empty days and channels without clients, through the plain transformation."""

from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from addon_okrs.dataset import transforms as t
from addon_okrs.dataset.okr_metrics import okr_metrics
from addon_okrs.dataset.schema import ADDON_OKR_METRICS_SCHEMA, DAY
from addon_okrs_tests.builders import (
    addons_df,
    aggregate_row,
    aggregates_df,
    main_summary_df,
    worked_example,
)

D = "20170501"  # day 17287 since 1970-01-01
D_NUMBER = 17287


def worked_example_aggregates(spark: SparkSession, c3_profile: int = 16100) -> Any:
    """addons/agg/v1 of the contract's worked example, through the whole graph."""
    addons, pings = worked_example(c3_profile)
    return t.addon_aggregates_from_sources(addons_df(spark, addons), main_summary_df(spark, pings))


def metrics(spark: SparkSession, aggregates: Any, days: list[str]) -> dict[tuple[str, str], tuple]:
    frame = okr_metrics(aggregates, days)
    assert [(f.name, f.dataType) for f in frame.schema.fields] == [
        (DAY, T.StringType()),
        *((f.name, f.dataType) for f in ADDON_OKR_METRICS_SCHEMA.fields),
    ]
    return {(r[DAY], r["normalized_channel"]): tuple(r)[2:] for r in frame.collect()}


def test_the_worked_example_gives_the_contracts_okr_rows(spark: SparkSession) -> None:
    found = metrics(spark, worked_example_aggregates(spark), [D])

    # n_clients, with add-ons, self-installers, share, self-installed add-ons, per profile, new
    assert found == {
        (D, "release"): (1, 2, 1, 1.0, 1, 1.0, 0),
        (D, "beta"): (1, 1, 1, 1.0, 1, 1.0, 0),
        (D, "Other"): (1, 1, 1, 1.0, 1, 1.0, 0),
        (D, "all"): (3, 4, 3, 1.0, 3, 1.0, 0),
    }


def test_a_profile_seven_days_old_is_new_and_fourteen_days_old_is_not(
    spark: SparkSession,
) -> None:
    seven = metrics(spark, worked_example_aggregates(spark, c3_profile=D_NUMBER - 7), [D])
    fourteen = metrics(spark, worked_example_aggregates(spark, c3_profile=D_NUMBER - 14), [D])

    assert (seven[(D, "Other")][-1], seven[(D, "all")][-1]) == (1, 1)
    assert (fourteen[(D, "Other")][-1], fourteen[(D, "all")][-1]) == (0, 0)


def row(client: str, **fields: Any) -> dict[str, Any]:
    """A self-installing release client on a channel of four clients, none custom-themed."""
    return aggregate_row(client, **{"n_clients": 4, "n_custom_theme_clients": 0, **fields})


def test_the_new_profile_window_is_day_minus_13_to_the_day(spark: SparkSession) -> None:
    rows = [
        row("age0", profile_creation_date=D_NUMBER),
        row("age13", profile_creation_date=D_NUMBER - 13),
        row("age14", profile_creation_date=D_NUMBER - 14),
        row("future", profile_creation_date=D_NUMBER + 1),
        row("unknown", profile_creation_date=None),
        row("sideloaded", foreign_install=True, profile_creation_date=D_NUMBER, count=3),
    ]

    found = metrics(spark, aggregates_df(spark, rows), [D])

    assert found[(D, "release")] == (4, 6, 5, 1.25, 5, 1.25, 2)


def test_a_channel_without_clients_has_no_ratios_and_a_day_without_rows_only_an_all_row(
    spark: SparkSession,
) -> None:
    rows = [
        row("c1", normalized_channel="aurora", n_clients=0, count=2),
        row("c2", normalized_channel="release", n_clients=3),
    ]
    empty_day = "20170502"

    found = metrics(spark, aggregates_df(spark, rows), [D, empty_day])

    assert found == {
        (D, "aurora"): (0, 1, 1, None, 2, None, 0),
        (D, "release"): (3, 1, 1, 1 / 3, 1, 1 / 3, 0),
        (D, "all"): (3, 2, 2, 2 / 3, 3, 1.0, 0),
        (empty_day, "all"): (0, 0, 0, None, 0, None, 0),
    }
