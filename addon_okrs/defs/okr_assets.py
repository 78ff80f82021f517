"""The OKR assets, downstream of addons/agg/v1: addon_okr_metrics (addons/okr/v1, the OKR
numbers of each day, plotted in the UI) and addon_okr_report (the 90-day report as of each day,
a chart and a page)."""

import base64
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from addon_okrs.dataset import report
from addon_okrs.dataset.local_frame import local_frame
from addon_okrs.dataset.okr_metrics import okr_metrics
from addon_okrs.dataset.schema import ADDON_OKR_METRICS_SCHEMA, ALL_CHANNELS, DAY
from addon_okrs.defs.assets import daily_asset, daily_spark_asset
from addon_okrs.defs.failures import failing_at_once
from addon_okrs.defs.resources.storage import ReportStoreResource


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
    rows = [r.asDict() for r in okr_metrics(addon_aggregates, days).collect()]
    for day in days:
        context.add_asset_metadata(
            okr_metadata([r for r in rows if r[DAY] == day]), partition_key=day
        )
    # A handful of rows a day: written from what was just computed, not by running the plan
    # over addons/agg/v1 a second time.
    schema = T.StructType([T.StructField(DAY, T.StringType()), *ADDON_OKR_METRICS_SCHEMA.fields])
    return local_frame(
        addon_aggregates.sparkSession,
        [tuple(r[f.name] for f in schema.fields) for r in rows],
        schema,
    )


# The UI's preview of the chart is smaller than okrs.png, to keep the event log light.
PREVIEW_DPI = 55


# The report as of D reads the metrics of the WINDOW_DAYS days ending with D, and says so:
# rebuilding a day's metrics makes the reports of that day and the 89 after it stale (and no
# other), and a backfill builds a report only once every metrics day of its window that the
# backfill also builds is in place. Days before the first partition simply do not exist.
REPORT_WINDOW = dg.TimeWindowPartitionMapping(
    start_offset=-(report.WINDOW_DAYS - 1),
    end_offset=0,
    allow_nonexistent_upstream_partitions=True,
)


@daily_asset(
    kinds=frozenset({"html"}),
    deps=[dg.AssetDep(addon_okr_metrics, partition_mapping=REPORT_WINDOW)],
)
def addon_okr_report(
    context: dg.AssetExecutionContext, reports: ReportStoreResource
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
        with failing_at_once():  # a day another live run is publishing
            folder = reports.publish(
                day,
                {"okrs.png": png, "index.html": report.render_html(built, png).encode()},
                context.run.run_id,
            )
        preview = base64.b64encode(report.preview_png(png, PREVIEW_DPI)).decode("ascii")
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


okr_assets: list[dg.AssetsDefinition] = [addon_okr_metrics, addon_okr_report]
