"""Tiny row builders for hand-written cases: each test states only the fields its rule is about."""

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from addon_okrs.dataset.schema import (
    ADDON_AGGREGATES_SCHEMA,
    ADDON_FIELDS,
    ADDONS_SCHEMA,
    DAY,
    DEFAULT_THEME_ID,
    MAIN_SUMMARY_SCHEMA,
)

DAY_D = "20170501"
CUSTOM_THEME = "{custom-theme}"


def addon(addon_id: str | None = "a1", **fields: Any) -> dict[str, Any]:
    """An enabled, self-installed, non-system add-on unless the fields say otherwise."""
    base: dict[str, Any] = {name: None for name, _ in ADDON_FIELDS}
    base.update(
        addon_id=addon_id,
        is_system=False,
        user_disabled=False,
        app_disabled=False,
        foreign_install=False,
    )
    base.update(fields)
    return base


def addons_row(
    client_id: str | None, channel: str | None = "release", day: str = DAY_D, **fields: Any
) -> dict[str, Any]:
    return {
        DAY: day,
        "document_id": "doc",
        "client_id": client_id,
        "subsession_start_date": None,
        "normalized_channel": channel,
        **addon(**fields),
    }


def ping(
    client_id: str | None,
    channel: str | None = "release",
    day: str = DAY_D,
    profile: int | None = 16000,
    theme: str | None = DEFAULT_THEME_ID,
    install_days: tuple[int | None, ...] = (),
) -> dict[str, Any]:
    return {
        DAY: day,
        "client_id": client_id,
        "normalized_channel": channel,
        "profile_creation_date": profile,
        "active_addons": [addon(f"x{i}", install_day=d) for i, d in enumerate(install_days)],
        "active_theme": None if theme is None else addon(theme),
    }


def with_day(schema: T.StructType) -> T.StructType:
    return T.StructType([T.StructField(DAY, T.StringType()), *schema.fields])


def addons_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, with_day(ADDONS_SCHEMA))


def main_summary_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, with_day(MAIN_SUMMARY_SCHEMA))


def worked_example(
    c3_profile: int = 16100,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The contract's worked example (docs/dataset.md): its addons rows and its pings."""
    pings = [
        ping("c1", profile=16000, theme=DEFAULT_THEME_ID, install_days=(17010, 16500)),
        ping("c1", profile=16002, theme=CUSTOM_THEME, install_days=(17010,)),
        ping("c2", channel="beta", profile=None, theme=None),
        ping("c3", channel=None, profile=c3_profile, theme=CUSTOM_THEME, install_days=(17100,)),
    ]
    addons = [
        addons_row("c1", addon_id="a1", foreign_install=False),
        addons_row("c1", addon_id="a1", foreign_install=False),
        addons_row("c1", addon_id="a2", foreign_install=True),
        addons_row("c1", addon_id="s1", is_system=True),
        addons_row("c2", channel="beta", addon_id="b1", foreign_install=None),
        addons_row("c2", channel="beta", addon_id="b2", user_disabled=True),
        addons_row("c3", channel=None, addon_id="d1", foreign_install=False),
        addons_row("c4", addon_id="e1", foreign_install=True),
    ]
    return addons, pings


def aggregate_row(client: str | None = "c1", day: str = DAY_D, **fields: Any) -> dict[str, Any]:
    """An addons/agg/v1 row (with its day) that keeps every rule unless the fields say otherwise."""
    base = {
        DAY: day,
        "normalized_channel": "release",
        "client_id": client,
        "foreign_install": False,
        "count": 1,
        "user_type": -1,
        "profile_creation_date": 16000,
        "min_install_day": 16500,
        "has_custom_theme": -1,
        "n_custom_theme_clients": 1,
        "n_clients": 3,
    }
    return {**base, **fields}


def aggregates_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, with_day(ADDON_AGGREGATES_SCHEMA))
