"""The asset graph, in the order of the dataset's story: the two telemetry sources, per-client
facts, per-channel counts, and the joined addons/agg/v1 table (the OKR assets that read it are
in okr_assets.py). Each asset is a thin call to its transformation; where the data lives is
the IO manager's business."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame

from addon_okrs.dataset import transforms
from addon_okrs.dataset.schema import DAY
from addon_okrs.defs import publish
from addon_okrs.defs.checks import CHECK_SPECS
from addon_okrs.defs.partitions import daily_partitions
from addon_okrs.defs.resources.storage import TableStoreResource

SOURCES_GROUP = "telemetry"
GROUP = "addon_okrs"

addons = dg.AssetSpec(
    "addons",
    partitions_def=daily_partitions,
    group_name=SOURCES_GROUP,
    kinds={"parquet"},
    description="telemetry addons v2: one row per ping and active add-on (written upstream).",
)
main_summary = dg.AssetSpec(
    "main_summary",
    partitions_def=daily_partitions,
    group_name=SOURCES_GROUP,
    kinds={"parquet"},
    description="telemetry main_summary v4: one row per ping (written upstream).",
)


# As the 2017 job was scheduled: two more tries, backing off (60 s, then 120 s).
RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL)


def daily_asset(
    kinds: frozenset[str] = frozenset({"spark", "parquet"}), **options: Any
) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """A daily asset of this graph: its partitions, group, kinds and retries, plus `options`
    of `dg.asset`. Its backfill policy comes from the settings (backfill days per run), set on
    every built asset by defs/graph.py."""
    return dg.asset(
        partitions_def=daily_partitions,
        group_name=GROUP,
        kinds=set(kinds),
        retry_policy=RETRY_POLICY,
        **options,
    )


daily_spark_asset = daily_asset()  # a daily Spark asset stored by the IO manager


@daily_spark_asset
def count_by_client_day(addons: DataFrame) -> DataFrame:
    """Distinct enabled, non-system add-ons per client, day, channel and install type."""
    return transforms.count_by_client_day(addons)


@daily_spark_asset
def user_types(count_by_client_day: DataFrame) -> DataFrame:
    """Per client/day/channel: 1 only side-loaded, -1 only self-installed, 0 both."""
    return transforms.user_types(count_by_client_day)


@daily_spark_asset
def ms_has_theme(main_summary: DataFrame) -> DataFrame:
    """Per client/day/channel: 1 custom theme, -1 default theme, 0 changed that day; and the
    earliest profile creation and install days seen there (main_summary's one read)."""
    return transforms.ms_has_theme(main_summary)


@daily_spark_asset
def ms_install_days(ms_has_theme: DataFrame) -> DataFrame:
    """Per client/day: earliest profile creation date and add-on install day."""
    return transforms.ms_install_days(ms_has_theme)


@daily_spark_asset
def channel_counts(ms_has_theme: DataFrame) -> DataFrame:
    """Per day/channel: n_clients and n_custom_theme_clients in main_summary."""
    return transforms.channel_counts(ms_has_theme)


class AddonAggregatesConfig(dg.Config):
    allow_empty: bool = Field(
        default=False,
        description="publish a day even when a source has no rows after the filters",
    )
    max_row_count_change: float = Field(
        default=0.30,
        description="the share a day's row count may move from the previous day available "
        "before row_count_stable warns",
    )


def empty_sources(
    days: list[str], count_by_client_day: DataFrame, days_with_pings: set[str]
) -> list[str]:
    """Which of the run's days have a source with nothing left after the dataset's filters
    (`days_with_pings`: the days channel_counts has rows for)."""
    with_addons = {r[DAY] for r in count_by_client_day.select(DAY).distinct().collect()}
    problems = []
    for day in days:
        if day not in with_addons:
            problems.append(f"{day}: addons has no enabled add-on of a known client")
        if day not in days_with_pings:
            problems.append(f"{day}: main_summary has no ping of a known client")
    return problems


# Day D of addons/agg/v1 is due by 12:00 UTC on D+1: in 2017 upstream took up to 7 hours past
# midnight to land a day, and the day's run takes a few more. The policy is the asset's, not the
# day's: a materialization of any day between 00:00 and 12:00 UTC counts (Dagster evaluates
# freshness on the asset's latest materialization), so a morning backfill of old days can hide
# a late D. The daemon evaluates it; the UI shows "Freshness policy failed" when it does.
DUE_HOUR_UTC = 12
FRESHNESS_POLICY = dg.FreshnessPolicy.cron(
    deadline_cron=f"0 {DUE_HOUR_UTC} * * *",
    lower_bound_delta=timedelta(hours=DUE_HOUR_UTC),
    timezone="UTC",
)


@daily_asset(check_specs=CHECK_SPECS, freshness_policy=FRESHNESS_POLICY)
def addon_aggregates(
    context: dg.AssetExecutionContext,
    config: AddonAggregatesConfig,
    tables: TableStoreResource,
    count_by_client_day: DataFrame,
    user_types: DataFrame,
    ms_install_days: DataFrame,
    ms_has_theme: DataFrame,
    channel_counts: DataFrame,
) -> Iterator[publish.Event]:
    """addons/agg/v1: one row per client, channel and install type, with the client's facts
    and the channel's totals. Each day is published only if it keeps the blocking rules."""
    days = context.partition_keys
    # channel_counts is a handful of rows per day: read back once, for the UI's counts and to
    # see which days have pings.
    n_clients: dict[str, dict[str, Any]] = {day: {} for day in days}
    for row in channel_counts.select(DAY, "normalized_channel", "n_clients").collect():
        n_clients[row[DAY]][row["normalized_channel"]] = row["n_clients"]
    problems = empty_sources(
        days, count_by_client_day, {day for day, counts in n_clients.items() if counts}
    )
    if problems and not config.allow_empty:
        raise dg.Failure(
            description=(
                f"{'; '.join(problems)}. An empty day is an upstream incident: nothing was "
                "written, and the previous output of the day is untouched. To publish it "
                "anyway, run addon_aggregates with config allow_empty: true."
            ),
            allow_retries=False,
        )
    frame = transforms.addon_aggregates(
        count_by_client_day, user_types, ms_install_days, ms_has_theme, channel_counts
    )
    yield from publish.write_audit_publish(
        context,
        tables.get(),
        frame,
        config.max_row_count_change,
        {day: {"n_clients_by_channel": dg.MetadataValue.json(n_clients[day])} for day in days},
    )


source_assets: list[dg.AssetSpec] = [addons, main_summary]
aggregate_assets: list[dg.AssetsDefinition] = [
    count_by_client_day,
    user_types,
    ms_has_theme,
    ms_install_days,
    channel_counts,
    addon_aggregates,
]
