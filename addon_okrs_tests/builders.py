"""Tiny row builders for hand-written cases: each test states only the fields its rule is about."""

from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from addon_okrs.schema import (
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
