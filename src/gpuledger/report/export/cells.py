"""What every statement export shares: spreadsheet-safe text, wording per mode, flat line rows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from gpuledger.engine.chargeback.statements import Line, Statements, TeamStatement

# A cell whose text starts with one of these is taken for a formula (or DDE payload) by Excel,
# LibreOffice and Google Sheets when the file is opened.
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def safe_text(value: str | None) -> str:
    """Text for a CSV cell: a value that a spreadsheet would run as a formula gets a leading ``'``.

    Team, model and tag names come from cloud tags anyone can set, so ``=HYPERLINK(…)`` as a team
    name must reach finance's spreadsheet as the text it is. The apostrophe is the spreadsheet
    convention for "this is text" and is not shown in the cell.
    """
    if value is None:
        return ""
    return "'" + value if is_formula_like(value) else value


@dataclass(frozen=True)
class Wording:
    """Labels that differ between chargeback (teams are billed) and showback (for information)."""

    title: str
    amount: str
    note: str


WORDING: Final = {
    "chargeback": Wording(
        title="Chargeback statement",
        amount="Amount charged",
        note="These amounts are charged to each team's cost centre.",
    ),
    "showback": Wording(
        title="Showback report",
        amount="Cost shown",
        note="For information: these amounts are shown to teams, not charged.",
    ),
}


def wording(statements: Statements) -> Wording:
    return WORDING.get(statements.mode, WORDING["chargeback"])


@dataclass(frozen=True)
class FlatLine:
    """A statement line with its team: one CSV row, one spreadsheet row."""

    team: str
    kind: str  # line | adjustment
    line: Line

    @property
    def change(self) -> Decimal | None:
        return None if self.line.previous is None else self.line.cost - self.line.previous


def flat_lines(team: TeamStatement) -> list[FlatLine]:
    """A team's lines, then its adjustment lines."""
    return [FlatLine(team.team, "line", line) for line in team.lines] + [
        FlatLine(team.team, "adjustment", line) for line in team.adjustments
    ]


def money_text(value: Decimal | None) -> str:
    return "" if value is None else str(value)
