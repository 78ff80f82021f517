"""addon_aggregates' checks: one per blocking rule of dataset/rules.py and the row-count
warning, declared on the asset itself, so that every way a run is launched audits each day it
builds; their results are reported one per day by publish.py."""

import dagster as dg

from addon_okrs.dataset.rules import BLOCKING_RULES, ROW_COUNT_STABLE
from addon_okrs.defs.partitions import daily_partitions
from addon_okrs.storage.catalog import ADDON_AGGREGATES


def _spec(name: str, description: str, blocking: bool) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=ADDON_AGGREGATES.name,
        description=description,
        blocking=blocking,
        partitions_def=daily_partitions,
    )


# Declared on addon_aggregates itself: the asset judges each staged day and reports every
# check for every day it built, whatever launched the run.
CHECK_SPECS: list[dg.AssetCheckSpec] = [
    *(_spec(rule.name, rule.statement[0].upper() + rule.statement[1:] + ".", True)
      for rule in BLOCKING_RULES),
    _spec(
        ROW_COUNT_STABLE,
        "Warns when a day's row count moved more than max_row_count_change from the previous "
        "day available.",
        False,
    ),
]  # fmt: skip
