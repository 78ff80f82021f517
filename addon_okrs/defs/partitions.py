"""The one partitioning of every asset: a UTC day keyed YYYYMMDD, like the storage folders."""

import dagster as dg

from addon_okrs.dataset.days import DAY_FORMAT, InvalidDayError, parse_day

FIRST_DAY = "20170101"

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=FIRST_DAY, fmt=DAY_FORMAT, timezone="UTC"
)


def check_day(key: str) -> str:
    """The key if it is a day of the partitions, else an error giving the valid range."""
    first, last = (
        daily_partitions.get_first_partition_key(),
        daily_partitions.get_last_partition_key(),
    )
    valid = f"days are YYYYMMDD (UTC) from {first} to {last}, the last complete day"
    try:
        parse_day(key)
    except InvalidDayError:
        raise InvalidDayError(f"{key!r} is not a day key: {valid}") from None
    if not daily_partitions.has_partition_key(key):
        raise InvalidDayError(f"{key} is outside the partitions: {valid}")
    return key
