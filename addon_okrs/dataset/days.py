"""Day keys: a UTC day written `YYYYMMDD`, as the storage folders, the partitions and every
command name it. The one place a day string is parsed, formatted or counted from."""

import datetime as dt

DAY_FORMAT = "%Y%m%d"
_EPOCH = dt.date(1970, 1, 1)


class InvalidDayError(ValueError):
    """A string that is not a day key; the message quotes it."""


def parse_day(text: str) -> dt.date:
    """The date of a `YYYYMMDD` key: exactly eight digits naming a calendar day."""
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        return dt.datetime.strptime(text, DAY_FORMAT).date()
    except (TypeError, ValueError):
        raise InvalidDayError(f"{text!r} is not a day in YYYYMMDD form") from None


def format_day(day: dt.date) -> str:
    return day.strftime(DAY_FORMAT)


def shift_day(day: str, days: int) -> str:
    """The key `days` days after `day` (before it, when negative)."""
    return format_day(parse_day(day) + dt.timedelta(days=days))


def day_range(first: str, count: int) -> list[str]:
    """`count` consecutive keys starting with `first`."""
    start = parse_day(first)
    return [format_day(start + dt.timedelta(days=i)) for i in range(count)]


def days_since_epoch(day: str) -> int:
    """The day as days since 1970-01-01: the unit of profile_creation_date and install_day."""
    return (parse_day(day) - _EPOCH).days
