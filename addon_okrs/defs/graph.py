"""The whole asset graph in the dataset's order: the two sources and every built asset, and
their backfill policy from the settings (the report's aside)."""

import warnings

import dagster as dg

from addon_okrs.defs.assets import aggregate_assets, source_assets
from addon_okrs.defs.okr_assets import addon_okr_report, okr_assets

built_assets: list[dg.AssetsDefinition] = [*aggregate_assets, *okr_assets]
# Their names, in the dataset's order (the two sources are not built here).
built_asset_names: list[str] = [a.key.path[-1] for a in built_assets]


def backfill_policy(days_per_run: int) -> dg.BackfillPolicy:
    """Runs of at most `days_per_run` days, each one Spark application; 0: one run."""
    if days_per_run == 0:
        return dg.BackfillPolicy.single_run()
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=days_per_run)


def graph_assets(days_per_run: int) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    """The two sources and every built asset, backfilling in runs of `days_per_run` days;
    the report, which starts no Spark, backfills in one run. (A backfill of days D.. also
    rebuilds the reports of the 89 days after each, whose windows hold them: one cheap run,
    after the chunks that build their metrics.)"""
    policy = backfill_policy(days_per_run)
    with warnings.catch_warnings():
        # Backfills of several days per run are the point of this graph (one Spark start-up per
        # chunk); Dagster marks the parameter beta, which is not news to its operators.
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy")
        built = [
            a.with_attributes(
                backfill_policy=dg.BackfillPolicy.single_run()
                if a.key == addon_okr_report.key
                else policy
            )
            for a in built_assets
        ]
    return [*source_assets, *built]
