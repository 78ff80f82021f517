"""Day keys: one parser for every `YYYYMMDD` the project reads, strict about the form."""

import datetime as dt

import pytest

from addon_okrs.dataset.days import (
    InvalidDayError,
    day_range,
    days_since_epoch,
    parse_day,
    shift_day,
)


def test_a_key_is_eight_digits_naming_a_calendar_day() -> None:
    assert parse_day("20170501") == dt.date(2017, 5, 1)


@pytest.mark.parametrize("text", ["2017051", "2017-05-01", "20170532", "201705011", " 20170501"])
def test_anything_else_is_refused_quoting_the_text(text: str) -> None:
    with pytest.raises(InvalidDayError) as error:
        parse_day(text)

    assert str(error.value) == f"{text!r} is not a day in YYYYMMDD form"


def test_days_count_across_month_and_year_ends() -> None:
    assert day_range("20161230", 4) == ["20161230", "20161231", "20170101", "20170102"]
    assert shift_day("20170301", -1) == "20170228"
    assert days_since_epoch("19700102") == 1
    assert days_since_epoch("20170501") == 17287
