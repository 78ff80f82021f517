"""The one partitioning of every asset: a UTC day keyed YYYYMMDD, like the storage folders."""

import dagster as dg

from addon_okrs.schema import DAY_FORMAT

FIRST_DAY = "20170101"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=FIRST_DAY, fmt=DAY_FORMAT, timezone="UTC"
)
