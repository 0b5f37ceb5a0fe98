"""The billing month: ``YYYY-MM`` text parsed once into a :class:`Period`, stepped and bounded here.

Every command takes the month as text (``--period 2026-10``) and the store partitions by that
text; everything that needs the month's instants, its neighbours or its length reads them from
a Period. Standard library only, so every layer may use it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from gpuledger.errors import UsageError

__all__ = ["Period"]

_TEXT: Final = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True, slots=True)
class Period:
    """One calendar month; ordered by time, written ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.year <= 9999 and 1 <= self.month <= 12):
            raise ValueError(f"no such month: year {self.year}, month {self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        """The month written ``YYYY-MM`` (e.g. ``2026-10``); UsageError for anything else."""
        found = _TEXT.fullmatch(text)
        if found is None or found[1] == "0000":
            raise UsageError(f"period {text!r} is not a month: expected YYYY-MM")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, day: date) -> Period:
        """The month of a date, or of a datetime's own calendar date (no time zone conversion)."""
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> datetime:
        """The month's first instant, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The next month's first instant, in UTC: the end of this month, exclusive."""
        return self.start + timedelta(days=self.days)

    @property
    def days(self) -> int:
        """How many days the month has."""
        return calendar.monthrange(self.year, self.month)[1]

    def bounds(self) -> tuple[datetime, datetime]:
        """``(start, end)``: the month as the half-open UTC interval [start, end)."""
        return self.start, self.end

    def dates(self) -> tuple[date, ...]:
        """Every day of the month, first to last."""
        return tuple(date(self.year, self.month, day) for day in range(1, self.days + 1))

    def previous(self) -> Period:
        """The month before."""
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def next(self) -> Period:
        """The month after."""
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)
