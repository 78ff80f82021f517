"""The SPEC's rules, one case each, on hand-built frames through the plain transformations."""

from typing import Any

from pyspark.sql import DataFrame, SparkSession

from addon_okrs.dataset import transforms as t
from addon_okrs.dataset.schema import ADDON_AGGREGATES_SCHEMA, DAY, DEFAULT_THEME_ID
from addon_okrs_tests.builders import (
    CUSTOM_THEME,
    addons_df,
    addons_row,
    main_summary_df,
    ping,
    worked_example,
)

OUTPUT_COLUMNS = [DAY, *ADDON_AGGREGATES_SCHEMA.fieldNames()]


def build(
    spark: SparkSession, addons: list[dict[str, Any]], pings: list[dict[str, Any]]
) -> DataFrame:
    """The whole graph in one plan, as the assets chain it."""
    return t.addon_aggregates_from_sources(addons_df(spark, addons), main_summary_df(spark, pings))


def rows(df: DataFrame) -> list[tuple[Any, ...]]:
    """Output rows as (day, channel, client, foreign, count, user_type, profile, min_install,
    theme, n_custom, n_clients), sorted."""
    return sorted(
        (tuple(r) for r in df.select(*OUTPUT_COLUMNS).collect()),
        key=lambda r: tuple("" if v is None else str(v) for v in r),
    )


def by_client(df: DataFrame) -> dict[tuple[str, bool], dict[str, Any]]:
    return {(r["client_id"], r["foreign_install"]): r.asDict() for r in df.collect()}


def test_spec_worked_example_row_for_row(spark: SparkSession) -> None:
    addons, pings = worked_example()

    result = build(spark, addons, pings)

    d = "20170501"
    assert rows(result) == [
        (d, "Other", "c3", False, 1, -1, 16100, 17100, 1, 1, 1),
        (d, "beta", "c2", False, 1, -1, None, None, -1, 0, 1),
        (d, "release", "c1", False, 1, 0, 16000, 16500, 0, 1, 1),
        (d, "release", "c1", True, 1, 0, 16000, 16500, 0, 1, 1),
        (d, "release", "c4", True, 1, 1, None, None, None, 1, 1),
    ]


def test_output_columns_and_types_are_the_contract(spark: SparkSession) -> None:
    result = build(spark, [addons_row("c1")], [ping("c1")])

    assert result.drop(DAY).schema.simpleString() == ADDON_AGGREGATES_SCHEMA.simpleString()


def test_system_and_disabled_addons_are_not_counted(spark: SparkSession) -> None:
    addons = [
        addons_row("c1", addon_id="kept"),
        addons_row("c1", addon_id="system", is_system=True),
        addons_row("c1", addon_id="user-off", user_disabled=True),
        addons_row("c1", addon_id="app-off", app_disabled=True),
    ]

    result = by_client(build(spark, addons, [ping("c1")]))

    assert result[("c1", False)]["count"] == 1


def test_null_system_or_disabled_flag_excludes_the_addon(spark: SparkSession) -> None:
    addons = [
        addons_row("c1", addon_id="kept"),
        addons_row("c1", addon_id="unknown-system", is_system=None),
        addons_row("c1", addon_id="unknown-user", user_disabled=None),
        addons_row("c1", addon_id="unknown-app", app_disabled=None),
        # A ping without add-ons is one row with every add-on field null.
        addons_row("c2", addon_id=None, is_system=None, user_disabled=None, app_disabled=None),
    ]

    result = by_client(build(spark, addons, [ping("c1"), ping("c2")]))

    assert list(result) == [("c1", False)]
    assert result[("c1", False)]["count"] == 1


def test_addon_rows_without_client_id_are_ignored(spark: SparkSession) -> None:
    addons = [addons_row(None, addon_id="orphan"), addons_row("c1", addon_id="a1")]

    result = by_client(build(spark, addons, [ping("c1")]))

    assert list(result) == [("c1", False)]


def test_count_is_distinct_addon_ids_per_install_type(spark: SparkSession) -> None:
    addons = [
        addons_row("c1", addon_id="a1"),
        addons_row("c1", addon_id="a1"),
        addons_row("c1", addon_id="a2"),
        addons_row("c1", addon_id="f1", foreign_install=True),
    ]

    result = by_client(build(spark, addons, [ping("c1")]))

    assert result[("c1", False)]["count"] == 2
    assert result[("c1", True)]["count"] == 1


def test_user_type_is_one_for_only_foreign_minus_one_for_only_self_zero_for_both(
    spark: SparkSession,
) -> None:
    addons = [
        addons_row("only-foreign", foreign_install=True),
        addons_row("only-self", foreign_install=False),
        addons_row("both", addon_id="a1", foreign_install=True),
        addons_row("both", addon_id="a2", foreign_install=False),
    ]
    pings = [ping("only-foreign"), ping("only-self"), ping("both")]

    result = by_client(build(spark, addons, pings))

    assert result[("only-foreign", True)]["user_type"] == 1
    assert result[("only-self", False)]["user_type"] == -1
    assert result[("both", True)]["user_type"] == 0
    assert result[("both", False)]["user_type"] == 0


def test_null_foreign_install_counts_as_self_installed(spark: SparkSession) -> None:
    # Bug 3: the notebook grouped a null install type apart, giving user_type -2.
    addons = [
        addons_row("c1", addon_id="a1", foreign_install=None),
        addons_row("c1", addon_id="a2", foreign_install=False),
    ]

    result = by_client(build(spark, addons, [ping("c1")]))

    assert list(result) == [("c1", False)]
    assert result[("c1", False)]["count"] == 2
    assert result[("c1", False)]["user_type"] == -1


def test_null_channel_is_reported_as_other_in_both_tables(spark: SparkSession) -> None:
    # Bug 2: a null channel never matched a join key, so these rows vanished.
    addons = [addons_row("c1", channel=None)]
    pings = [ping("c1", channel=None, theme=CUSTOM_THEME), ping("c2", channel=None)]

    result = by_client(build(spark, addons, pings))

    row = result[("c1", False)]
    assert (row["normalized_channel"], row["has_custom_theme"]) == ("Other", 1)
    assert (row["n_custom_theme_clients"], row["n_clients"]) == (1, 2)


def test_two_profile_creation_dates_give_one_row_with_the_earliest(spark: SparkSession) -> None:
    # Bug 4: grouping by (client, profile_creation_date) duplicated the client's rows.
    addons = [addons_row("c1")]
    pings = [
        ping("c1", profile=16002, install_days=(16900,)),
        ping("c1", profile=16000, install_days=(16950,)),
    ]

    result = build(spark, addons, pings)

    assert result.count() == 1
    row = result.first()
    assert row is not None
    assert (row["profile_creation_date"], row["min_install_day"]) == (16000, 16900)


def test_profile_creation_date_kept_for_client_whose_pings_have_no_active_addons(
    spark: SparkSession,
) -> None:
    # Bug 4: the notebook took the date from exploded add-ons, so it was lost here.
    result = by_client(build(spark, [addons_row("c1")], [ping("c1", profile=16123)]))

    assert result[("c1", False)]["profile_creation_date"] == 16123
    assert result[("c1", False)]["min_install_day"] is None


def test_install_day_and_profile_are_client_facts_over_every_channel_and_addon(
    spark: SparkSession,
) -> None:
    addons = [addons_row("c1", channel="release")]
    pings = [
        ping("c1", channel="release", profile=16500, install_days=(17000,)),
        # Another channel, and an add-on element that is null-dated: both still count / skip.
        ping("c1", channel="beta", profile=16400, install_days=(16800, None)),
    ]

    result = by_client(build(spark, addons, pings))

    row = result[("c1", False)]
    assert (row["profile_creation_date"], row["min_install_day"]) == (16400, 16800)


def test_has_custom_theme_is_zero_when_the_theme_changed_that_day(spark: SparkSession) -> None:
    addons = [
        addons_row("changed"),
        addons_row("default"),
        addons_row("custom"),
        addons_row("none"),
    ]
    pings = [
        ping("changed", theme=DEFAULT_THEME_ID),
        ping("changed", theme=CUSTOM_THEME),
        ping("default", theme=DEFAULT_THEME_ID),
        ping("default", theme=DEFAULT_THEME_ID),
        ping("custom", theme=CUSTOM_THEME),
        ping("none", theme=None),
    ]

    result = by_client(build(spark, addons, pings))

    themes = {client: row["has_custom_theme"] for (client, _), row in result.items()}
    assert themes == {"changed": 0, "default": -1, "custom": 1, "none": -1}
    assert result[("custom", False)]["n_custom_theme_clients"] == 2


def test_has_custom_theme_is_null_without_a_ping_on_that_channel(spark: SparkSession) -> None:
    addons = [addons_row("c1", channel="release")]
    pings = [ping("c1", channel="beta", theme=CUSTOM_THEME, profile=16001)]

    result = by_client(build(spark, addons, pings))

    row = result[("c1", False)]
    assert row["has_custom_theme"] is None
    assert row["profile_creation_date"] == 16001
    assert (row["n_custom_theme_clients"], row["n_clients"]) == (0, 0)


def test_channel_without_custom_theme_clients_keeps_its_rows(spark: SparkSession) -> None:
    # Bug 1: the inner join to the custom-theme counts dropped the whole channel.
    addons = [addons_row("c1", channel="esr")]
    pings = [ping("c1", channel="esr", theme=DEFAULT_THEME_ID), ping("c2", channel="esr")]

    result = by_client(build(spark, addons, pings))

    row = result[("c1", False)]
    assert (row["n_custom_theme_clients"], row["n_clients"]) == (0, 2)


def test_channel_absent_from_main_summary_keeps_its_rows_with_zero_counts(
    spark: SparkSession,
) -> None:
    # Bug 1: the inner join to the client counts dropped the whole channel.
    addons = [addons_row("c1", channel="aurora")]
    pings = [ping("c2", channel="release")]

    result = by_client(build(spark, addons, pings))

    row = result[("c1", False)]
    assert row["normalized_channel"] == "aurora"
    assert (row["profile_creation_date"], row["has_custom_theme"]) == (None, None)
    assert (row["n_custom_theme_clients"], row["n_clients"]) == (0, 0)


def test_pings_without_client_id_are_not_counted_as_a_client(spark: SparkSession) -> None:
    # Bug 5: the null client id was counted as one more distinct client.
    addons = [addons_row("c1")]
    pings = [ping("c1"), ping(None, theme=CUSTOM_THEME), ping(None)]

    result = by_client(build(spark, addons, pings))

    row = result[("c1", False)]
    assert (row["n_custom_theme_clients"], row["n_clients"]) == (0, 1)


def test_n_clients_counts_distinct_clients_of_the_channel(spark: SparkSession) -> None:
    addons = [addons_row("c1", channel="release"), addons_row("c1", channel="beta")]
    pings = [
        ping("c1", channel="release"),
        ping("c1", channel="release"),
        ping("c1", channel="beta", theme=CUSTOM_THEME),
        ping("c2", channel="release", theme=CUSTOM_THEME),
        ping("c3", channel="release"),
    ]

    result = build(spark, addons, pings)

    counts = {
        r["normalized_channel"]: (r["n_custom_theme_clients"], r["n_clients"])
        for r in result.collect()
    }
    assert counts == {"release": (1, 3), "beta": (1, 1)}


def test_days_never_mix(spark: SparkSession) -> None:
    day1 = (
        [addons_row("c1", day="20170501", addon_id="a1", foreign_install=True)],
        [ping("c1", day="20170501", profile=16000, theme=CUSTOM_THEME, install_days=(16900,))],
    )
    day2 = (
        [
            addons_row("c1", day="20170502", addon_id="a2"),
            addons_row("c2", day="20170502", addon_id="a3"),
        ],
        [
            ping("c1", day="20170502", profile=15000, install_days=(15500,)),
            ping("c2", day="20170502"),
        ],
    )

    together = rows(build(spark, day1[0] + day2[0], day1[1] + day2[1]))

    assert together == rows(build(spark, *day1)) + rows(build(spark, *day2))
    assert together == [
        ("20170501", "release", "c1", True, 1, 1, 16000, 16900, 1, 1, 1),
        ("20170502", "release", "c1", False, 1, -1, 15000, 15500, -1, 0, 2),
        ("20170502", "release", "c2", False, 1, -1, 16000, None, -1, 0, 2),
    ]
