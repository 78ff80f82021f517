"""The job that builds every asset of a day (what the sensor and the schedule launch)."""

import dagster as dg

from addon_okrs.defs.graph import built_assets

daily_job = dg.define_asset_job(
    "addon_aggregates_daily",
    selection=dg.AssetSelection.assets(*built_assets),
    description="Every asset of addons/agg/v1 for one day (or one range, as a single run).",
)
