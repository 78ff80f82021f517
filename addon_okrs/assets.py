"""The asset graph, in the order of the dataset's story: the two telemetry sources, per-client
facts, per-channel counts, and the joined addons/agg/v1 table. Each asset is a thin call to
its transformation; where the data lives is the IO manager's business."""

import base64
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from addon_okrs import checks, publish, report, transforms
from addon_okrs.partitions import daily_partitions
from addon_okrs.resources.reports import OkrReportResource
from addon_okrs.resources.tables import TableStoreResource
from addon_okrs.schema import ADDON_OKR_METRICS_SCHEMA, ALL_CHANNELS, DAY

# Backfills of several days per run are the point of this graph (one Spark start-up per chunk);
# Dagster marks the parameter beta, which is not news to anyone reading the logs.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)

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
# A backfill runs as few Spark applications as its size allows; the code location sets the
# chunk size from settings (backfill_policy below).
DEFAULT_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=7)


def backfill_policy(days_per_run: int) -> dg.BackfillPolicy:
    """Runs of at most `days_per_run` days, each one Spark application; 0: one run."""
    if days_per_run == 0:
        return dg.BackfillPolicy.single_run()
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run)


def daily_spark_asset(compute: Callable[..., DataFrame]) -> dg.AssetsDefinition:
    """A daily Spark asset of this graph, stored by the IO manager."""
    return dg.asset(
        partitions_def=daily_partitions,
        backfill_policy=DEFAULT_BACKFILL_POLICY,
        group_name=GROUP,
        kinds={"spark", "parquet"},
        retry_policy=RETRY_POLICY,
    )(compute)


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
    days: list[str], count_by_client_day: DataFrame, channel_counts: DataFrame
) -> list[str]:
    """Which of the run's days have a source with nothing left after the dataset's filters."""
    with_addons = {r[DAY] for r in count_by_client_day.select(DAY).distinct().collect()}
    with_pings = {r[DAY] for r in channel_counts.select(DAY).distinct().collect()}
    problems = []
    for day in days:
        if day not in with_addons:
            problems.append(f"{day}: addons has no enabled add-on of a known client")
        if day not in with_pings:
            problems.append(f"{day}: main_summary has no ping of a known client")
    return problems


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=DEFAULT_BACKFILL_POLICY,
    group_name=GROUP,
    kinds={"spark", "parquet"},
    retry_policy=RETRY_POLICY,
    check_specs=checks.CHECK_SPECS,
)
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
    problems = empty_sources(days, count_by_client_day, channel_counts)
    if problems and not config.allow_empty:
        raise dg.Failure(
            description=(
                f"{'; '.join(problems)}. An empty day is an upstream incident: nothing was "
                "written, and the previous output of the day is untouched. To publish it "
                "anyway, run addon_aggregates with config allow_empty: true."
            ),
            allow_retries=False,
        )
    # channel_counts is a handful of rows per day: reading it back for the UI costs nothing.
    n_clients: dict[str, dict[str, Any]] = {day: {} for day in days}
    for row in channel_counts.select(DAY, "normalized_channel", "n_clients").collect():
        n_clients[row[DAY]][row["normalized_channel"]] = row["n_clients"]
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


def okr_metadata(day_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One day of addons/okr/v1 for the UI: the `all` row's OKR numbers as plottable numeric
    metadata, and the whole day as a table."""
    [everything] = [r for r in day_rows if r["normalized_channel"] == ALL_CHANNELS]
    numbers = {
        name: everything[name]
        for name in (
            "self_installers",
            "self_installer_share",
            "addons_per_profile",
            "new_profile_self_installers",
        )
        if everything[name] is not None  # a ratio without clients is no point on a plot
    }
    kinds = {"string": "string", "bigint": "int", "double": "float"}
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(f.name, kinds[f.dataType.simpleString()])
            for f in ADDON_OKR_METRICS_SCHEMA.fields
        ]
    )
    ordered = sorted(
        day_rows, key=lambda r: (r["normalized_channel"] == ALL_CHANNELS, r["normalized_channel"])
    )
    records = [
        dg.TableRecord({f.name: r[f.name] for f in ADDON_OKR_METRICS_SCHEMA.fields})
        for r in ordered
    ]
    return {**numbers, "okrs_by_channel": dg.MetadataValue.table(records, schema)}


@daily_spark_asset
def addon_okr_metrics(context: dg.AssetExecutionContext, addon_aggregates: DataFrame) -> DataFrame:
    """addons/okr/v1: the OKR numbers of each day, per channel and for all channels, from the
    published addons/agg/v1 day."""
    days = context.partition_keys
    rows = [r.asDict() for r in transforms.okr_metrics(addon_aggregates, days).collect()]
    for day in days:
        context.add_asset_metadata(
            okr_metadata([r for r in rows if r[DAY] == day]), partition_key=day
        )
    # A handful of rows a day: written from what was just computed, not by running the plan
    # over addons/agg/v1 a second time.
    schema = T.StructType([T.StructField(DAY, T.StringType()), *ADDON_OKR_METRICS_SCHEMA.fields])
    return addon_aggregates.sparkSession.createDataFrame(
        [tuple(r[f.name] for f in schema.fields) for r in rows], schema
    )


# The UI's preview of the chart is smaller than okrs.png, to keep the event log light.
PREVIEW_DPI = 55


@dg.asset(
    partitions_def=daily_partitions,
    deps=[addon_okr_metrics],
    backfill_policy=DEFAULT_BACKFILL_POLICY,
    group_name=GROUP,
    kinds={"html"},
    retry_policy=RETRY_POLICY,
)
def addon_okr_report(
    context: dg.AssetExecutionContext, reports: OkrReportResource
) -> dg.MaterializeResult:
    """The OKR report as of each day: the three OKRs over the last 90 days of addons/okr/v1
    against their targets, as okrs.png and a self-contained index.html."""
    for day in context.partition_keys:
        try:
            built = reports.build(day)
        except report.ReportError as error:
            raise dg.Failure(
                description=f"addon_okr_report, {day}: {error}", allow_retries=False
            ) from error
        png = report.render_png(built)
        folder = reports.publish(
            day,
            {"okrs.png": png, "index.html": report.render_html(built, png).encode()},
            context.run.run_id,
        )
        preview = base64.b64encode(report.render_png(built, dpi=PREVIEW_DPI)).decode("ascii")
        context.add_asset_metadata(
            {
                "chart": dg.MetadataValue.md(
                    f"![OKRs as of {day}](data:image/png;base64,{preview})"
                ),
                "page": dg.MetadataValue.url(f"{folder}/index.html"),
                "days_shown": len(built.days),
                "missing_days": dg.MetadataValue.json(built.missing),
                "baseline": built.baseline_label,
                **{
                    f"{t.okr.metric}_percent_of_target": round(t.percent_of_target, 2)
                    for t in built.trends
                    if t.percent_of_target is not None
                },
            },
            partition_key=day,
        )
        context.log.info(f"addon_okr_report: {day}: {folder}/index.html")
    return dg.MaterializeResult()


source_assets: list[dg.AssetSpec] = [addons, main_summary]
built_assets: list[dg.AssetsDefinition] = [
    count_by_client_day,
    user_types,
    ms_has_theme,
    ms_install_days,
    channel_counts,
    addon_aggregates,
    addon_okr_metrics,
    addon_okr_report,
]
# Their names, in the dataset's order (the two sources are not built here).
built_asset_names: list[str] = [a.key.path[-1] for a in built_assets]
