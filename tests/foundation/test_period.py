"""The billing month: parsed once from ``YYYY-MM``, stepped, bounded and ordered."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuledger.errors import UsageError
from gpuledger.period import Period

# Years whose neighbours and bounds stay inside what datetime can hold.
periods = st.builds(Period, st.integers(2, 9998), st.integers(1, 12))

NOT_MONTHS = {
    "month-13": "2026-13",
    "month-0": "2026-00",
    "year-0": "0000-10",
    "one-digit-month": "2026-1",
    "two-digit-year": "26-10",
    "a-date": "2026-10-01",
    "slash": "2026/10",
    "empty": "",
    "leading-space": " 2026-10",
    "trailing-newline": "2026-10\n",
    "non-ascii-digits": "\u0662\u0660\u0662\u0666-\u0661\u0660",
}


@pytest.mark.parametrize(
    ("text", "year", "month"),
    [("2026-10", 2026, 10), ("2026-01", 2026, 1), ("2026-12", 2026, 12), ("0001-01", 1, 1)],
    ids=["october", "january", "december", "first-month"],
)
def test_parse_reads_year_and_month(text: str, year: int, month: int) -> None:
    period = Period.parse(text)

    assert (period.year, period.month) == (year, month)
    assert str(period) == text


@pytest.mark.parametrize("text", NOT_MONTHS.values(), ids=NOT_MONTHS.keys())
def test_parse_refuses_anything_but_a_month(text: str) -> None:
    with pytest.raises(UsageError, match="is not a month: expected YYYY-MM") as caught:
        Period.parse(text)

    assert str(caught.value) == f"period {text!r} is not a month: expected YYYY-MM"
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("year", "month"), [(2026, 13), (2026, 0), (0, 1)], ids=["month-13", "month-0", "year-0"]
)
def test_a_period_cannot_be_built_outside_the_calendar(year: int, month: int) -> None:
    with pytest.raises(ValueError, match="no such month"):
        Period(year, month)


@pytest.mark.parametrize(
    ("text", "start", "end", "days"),
    [
        ("2026-10", datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), 31),
        ("2026-12", datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), 31),
        ("2026-02", datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), 28),
        ("2024-02", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), 29),
        ("2026-04", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC), 30),
    ],
    ids=["october", "december", "february", "leap-february", "april"],
)
def test_bounds_are_utc_and_end_at_the_next_month(
    text: str, start: datetime, end: datetime, days: int
) -> None:
    period = Period.parse(text)

    assert period.bounds() == (period.start, period.end) == (start, end)
    assert period.start.tzinfo is UTC
    assert period.end.tzinfo is UTC
    assert period.days == days == len(period.dates())
    assert period.dates()[0] == start.date()
    assert period.dates()[-1] == (end - timedelta(days=1)).date()


@pytest.mark.parametrize(
    ("text", "previous", "following"),
    [
        ("2026-10", "2026-09", "2026-11"),
        ("2026-01", "2025-12", "2026-02"),
        ("2026-12", "2026-11", "2027-01"),
    ],
    ids=["mid-year", "january", "december"],
)
def test_previous_and_next_step_one_month(text: str, previous: str, following: str) -> None:
    period = Period.parse(text)

    assert str(period.previous()) == previous
    assert str(period.next()) == following


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (date(2026, 10, 31), "2026-10"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "2026-12"),
        (datetime(2027, 1, 1), "2027-01"),
    ],
    ids=["date", "aware-datetime", "naive-datetime"],
)
def test_of_is_the_month_of_a_calendar_date(moment: date, text: str) -> None:
    assert Period.of(moment) == Period.parse(text)


def test_periods_order_by_time_and_compare_by_value() -> None:
    texts = ["2027-01", "2026-02", "2026-10", "2025-12", "2026-10"]

    assert [str(p) for p in sorted(map(Period.parse, texts))] == sorted(texts)
    assert Period.parse("2026-10") == Period(2026, 10)
    assert len({Period.parse("2026-10"), Period(2026, 10)}) == 1


@given(periods)
def test_next_and_previous_undo_each_other(period: Period) -> None:
    assert period.next().previous() == period
    assert period.previous().next() == period
    assert period.previous() < period < period.next()


@given(periods)
def test_bounds_tile_time_without_gaps_or_overlap(period: Period) -> None:
    assert period.end == period.next().start
    assert period.previous().end == period.start
    assert period.end - period.start == timedelta(days=period.days)
    assert Period.of(period.start) == period
    assert Period.of(period.end - timedelta(microseconds=1)) == period


@given(periods)
def test_text_round_trips(period: Period) -> None:
    assert Period.parse(str(period)) == period
