"""The business rules of addons/agg/v1 (docs/dataset.md), as plain DataFrame -> DataFrame functions.

Every frame carries the day column and every aggregation groups by it, so a run over several
days gives each day exactly its single-day result. Nothing here knows about Dagster or storage.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from addon_okrs.dataset.schema import (
    ADDON_AGGREGATES_SCHEMA,
    CLIENT_ID,
    CLIENT_PARTITIONS,
    DAY,
    DEFAULT_THEME_ID,
    UNKNOWN_CHANNEL,
)

CLIENT_DAY_CHANNEL = [DAY, "client_id", "normalized_channel"]
# The same keys as join keys, the client first. A sort-merge join sorts on a prefix of its
# first key, and the day is the same on every row of a one-day run: led by the day, every
# comparison falls through to whole rows (19.7 s against 14.0 s for the join at 4M clients,
# docs/performance.md).
JOIN_CLIENT_DAY_CHANNEL = ["client_id", DAY, "normalized_channel"]
JOIN_CLIENT_DAY = ["client_id", DAY]


def _channel() -> Column:
    """Rule C: a null channel is reported as 'Other' (the notebook silently dropped it)."""
    return F.coalesce(F.col("normalized_channel"), F.lit(UNKNOWN_CHANNEL)).alias(
        "normalized_channel"
    )


def _is_false(column: str) -> Column:
    # A null flag is unknown, and an unknown add-on is not counted (docs/dataset.md, rule A).
    return F.coalesce(F.col(column) == F.lit(False), F.lit(False))


def enabled_user_addons(addons: DataFrame) -> DataFrame:
    """`A`: the add-ons a user actually runs — not system, not disabled — of known clients."""
    is_enabled_user_addon = (
        _is_false("is_system") & _is_false("user_disabled") & _is_false("app_disabled")
    )
    has_client = F.col("client_id").isNotNull()
    return addons.where(is_enabled_user_addon & has_client).select(
        DAY,
        "client_id",
        _channel(),
        # Rule I: an unknown install type counts as self-installed.
        F.coalesce(F.col("foreign_install"), F.lit(False)).alias("foreign_install"),
        "addon_id",
    )


def pings_of_known_clients(main_summary: DataFrame) -> DataFrame:
    """`M`: main_summary pings with a client id (null ids were one phantom client, bug 5)."""
    return main_summary.where(F.col("client_id").isNotNull()).select(
        DAY,
        "client_id",
        _channel(),
        "profile_creation_date",
        "active_addons",
        "active_theme",
    )


def by_client(frame: DataFrame) -> DataFrame:
    """Hash-partition rows by client into CLIENT_PARTITIONS parts: every later grouping or join
    of this graph keys on (client, day, ...), so this one shuffle serves all of them (with
    spark.sql.requireAllClusterKeysForCoPartition off, see defs/resources/spark.py). The
    per-client intermediates are stored bucketed the same way, so reading one back gives the
    same partitioning without a shuffle (storage/bucketing.py)."""
    return frame.repartition(CLIENT_PARTITIONS, CLIENT_ID)


def count_by_client_day(addons: DataFrame) -> DataFrame:
    """Distinct add-ons per client, day, channel and install type: the grain of the output."""
    return (
        by_client(enabled_user_addons(addons))
        .groupBy(*CLIENT_DAY_CHANNEL, "foreign_install")
        .agg(F.count_distinct("addon_id").alias("count"))
        .select(*CLIENT_DAY_CHANNEL, "foreign_install", "count")
    )


def user_types(count_by_client_day: DataFrame) -> DataFrame:
    """1 only side-loaded add-ons, -1 only self-installed, 0 both, per client/day/channel."""
    install_sign = F.when(F.col("foreign_install"), F.lit(1)).otherwise(F.lit(-1))
    return (
        count_by_client_day.groupBy(*CLIENT_DAY_CHANNEL)
        .agg(F.sum(install_sign).cast("long").alias("user_type"))
        .select(*CLIENT_DAY_CHANNEL, "user_type")
    )


def ms_has_theme(main_summary: DataFrame) -> DataFrame:
    """main_summary in one pass, per client/day/channel: has_custom_theme (1 custom theme,
    -1 default theme, 0 both seen that day), and the earliest profile creation date and add-on
    install day of the client's pings on that channel, from which ms_install_days derives."""
    theme_id = F.col("active_theme.addon_id")
    is_custom = theme_id.isNotNull() & (theme_id != F.lit(DEFAULT_THEME_ID))
    # Each ping is reduced to a few numbers before the exchange: the add-on and theme structs
    # never cross it (at 4M clients: 334 MB shuffled with them, 235 MB without;
    # docs/performance.md).
    per_ping = pings_of_known_clients(main_summary).select(
        *CLIENT_DAY_CHANNEL,
        is_custom.cast("byte").alias("custom"),
        (~is_custom).cast("byte").alias("default"),
        "profile_creation_date",
        # Every active add-on counts, system and disabled included (docs/dataset.md).
        F.array_min(F.col("active_addons.install_day")).alias("earliest_install"),
    )
    # The sum of the distinct signs (+1 custom, -1 default) without a distinct aggregate,
    # which would cost a second shuffle: (custom seen) - (default seen).
    has_custom_theme = F.max("custom").cast("long") - F.max("default").cast("long")
    return (
        by_client(per_ping)
        .groupBy(*CLIENT_DAY_CHANNEL)
        .agg(
            has_custom_theme.alias("has_custom_theme"),
            F.min("profile_creation_date").cast("long").alias("profile_creation_date"),
            F.min("earliest_install").cast("int").alias("min_install_day"),
        )
        .select(*CLIENT_DAY_CHANNEL, "has_custom_theme", "profile_creation_date", "min_install_day")
    )


def ms_install_days(ms_has_theme: DataFrame) -> DataFrame:
    """Per client and day, over all its pings on any channel: the earliest profile creation
    date and the earliest install day of any active add-on. Derived from ms_has_theme, so
    main_summary is read once per run."""
    return (
        ms_has_theme.groupBy(DAY, "client_id")
        .agg(
            F.min("profile_creation_date").alias("profile_creation_date"),
            F.min("min_install_day").alias("min_install_day"),
        )
        .select(DAY, "client_id", "profile_creation_date", "min_install_day")
    )


def channel_counts(ms_has_theme: DataFrame) -> DataFrame:
    """Clients per day/channel in main_summary, and how many of them had a custom theme.

    ms_has_theme holds exactly one row per (day, client, channel) seen in main_summary, so
    counting its rows counts distinct clients without reading main_summary again.
    """
    custom_or_changed = F.col("has_custom_theme") >= F.lit(0)
    return (
        ms_has_theme.groupBy(DAY, "normalized_channel")
        .agg(
            F.count(F.when(custom_or_changed, F.lit(1)))
            .cast("int")
            .alias("n_custom_theme_clients"),
            F.count(F.lit(1)).cast("int").alias("n_clients"),
        )
        .select(DAY, "normalized_channel", "n_custom_theme_clients", "n_clients")
    )


def addon_aggregates(
    count_by_client_day: DataFrame,
    user_types: DataFrame,
    ms_install_days: DataFrame,
    ms_has_theme: DataFrame,
    channel_counts: DataFrame,
) -> DataFrame:
    """One row per (day, client, channel, install type) with the client and channel facts.

    The four per-client inputs are expected partitioned by client, as `by_client` leaves them
    and as the table store reads the bucketed intermediates; any other partitioning is still
    joined right, at the cost of a shuffle per input.

    Left joins throughout: a client or channel missing from main_summary keeps its rows, with
    null facts and zero counts (the notebook's inner joins dropped them, bug 1).
    """
    # Partitioned alike, the three joins on (client, day, ...) need no exchange; the channel
    # totals are a few rows and are broadcast. The two joins on all three keys come first, so
    # the rows are sorted once for them.
    joined = (
        count_by_client_day.join(user_types, on=JOIN_CLIENT_DAY_CHANNEL, how="inner")
        .join(
            ms_has_theme.select(*CLIENT_DAY_CHANNEL, "has_custom_theme"),
            on=JOIN_CLIENT_DAY_CHANNEL,
            how="left",
        )
        .join(ms_install_days, on=JOIN_CLIENT_DAY, how="left")
        .join(F.broadcast(channel_counts), on=[DAY, "normalized_channel"], how="left")
    )
    zero_if_missing = {"n_custom_theme_clients", "n_clients"}
    contract = [
        (
            F.coalesce(F.col(field.name), F.lit(0))
            if field.name in zero_if_missing
            else F.col(field.name)
        )
        .cast(field.dataType)
        .alias(field.name)
        for field in ADDON_AGGREGATES_SCHEMA.fields
    ]
    return joined.select(DAY, *contract)


def addon_aggregates_from_sources(
    addons: DataFrame, main_summary: DataFrame, cache: bool = False
) -> DataFrame:
    """The whole chain in one plan, as the asset graph composes it step by step.

    With `cache`, the two per-source aggregates are kept in Spark's cache: each feeds two
    branches that prune their columns differently, so without it Spark scans each source twice
    (the asset graph avoids that by persisting them as assets).
    """
    counts = count_by_client_day(addons)
    themes = ms_has_theme(main_summary)
    if cache:
        counts, themes = counts.persist(), themes.persist()
    return addon_aggregates(
        counts, user_types(counts), ms_install_days(themes), themes, channel_counts(themes)
    )
