"""Chargeback statements as values: what `chargeback` computes, `close` stores and exports render.

A :class:`Statements` holds one month's statements for every team, already rounded to the
currency's minor unit. Its document form (:meth:`Statements.document`) is canonical JSON with
amounts as exact decimal strings: that is what a closed month stores, hashes and renders from,
so a closed month prints the same bytes for ever.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.schema import UNALLOCATED

# The order cost types appear in on a statement: what was used first, corrections last.
COST_TYPE_ORDER = (
    "usage",
    "idle",
    "no_telemetry",
    "shared",
    "commitment",
    "credit",
    "tax",
    "unallocated",
    "adjustment",
)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True)
class Line:
    """One statement line: a team's cost for one model × GPU model × cost type."""

    model: str
    gpu_model: str | None
    cost_type: str
    gpu_hours: float
    cost: Decimal
    previous: Decimal | None = None  # the same line's cost in the month before
    corrects_period: str | None = None  # on adjustment lines: the closed month they correct

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.gpu_model or "", self.cost_type)

    def document(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "gpu_model": self.gpu_model,
            "cost_type": self.cost_type,
            "gpu_hours": self.gpu_hours,
            "cost": _money(self.cost),
            "previous": _money(self.previous),
            "corrects_period": self.corrects_period,
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> Line:
        cost = _decimal(data["cost"])
        assert cost is not None
        return cls(
            model=data["model"],
            gpu_model=data["gpu_model"],
            cost_type=data["cost_type"],
            gpu_hours=float(data["gpu_hours"]),
            cost=cost,
            previous=_decimal(data.get("previous")),
            corrects_period=data.get("corrects_period"),
        )


def line_order(line: Line) -> tuple[int, str, str, str]:
    """Sort key of lines: by cost type (usage first), then model and GPU model."""
    rank = COST_TYPE_ORDER.index(line.cost_type) if line.cost_type in COST_TYPE_ORDER else 99
    return (rank, line.corrects_period or "", line.model, line.gpu_model or "")


def team_order(team: str) -> tuple[bool, str]:
    """Sort key of teams: alphabetical, ``(unallocated)`` last so it is never overlooked."""
    return (team == UNALLOCATED, team)


@dataclass(frozen=True)
class TeamStatement:
    """One team's statement. ``total`` is the month's own cost: the sum of ``lines`` exactly.

    Adjustment lines (corrections of closed months) are kept apart so that the team totals still
    add up to the month's invoice; ``amount_due`` is what the team is charged in all.
    """

    team: str
    total: Decimal
    lines: tuple[Line, ...]
    adjustments: tuple[Line, ...] = ()
    previous_total: Decimal | None = None
    budget: Decimal | None = None
    forecast: Decimal | None = None

    @property
    def adjustment_total(self) -> Decimal:
        return sum((line.cost for line in self.adjustments), Decimal(0))

    @property
    def amount_due(self) -> Decimal:
        return self.total + self.adjustment_total

    @property
    def variance(self) -> Decimal | None:
        """Cost over budget (negative: under budget)."""
        return None if self.budget is None else self.total - self.budget

    @property
    def forecast_variance(self) -> Decimal | None:
        if self.budget is None or self.forecast is None:
            return None
        return self.forecast - self.budget

    def document(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "total": _money(self.total),
            "lines": [line.document() for line in self.lines],
            "adjustments": [line.document() for line in self.adjustments],
            "previous_total": _money(self.previous_total),
            "budget": _money(self.budget),
            "forecast": _money(self.forecast),
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> TeamStatement:
        total = _decimal(data["total"])
        assert total is not None
        return cls(
            team=data["team"],
            total=total,
            lines=tuple(Line.from_document(line) for line in data["lines"]),
            adjustments=tuple(Line.from_document(line) for line in data["adjustments"]),
            previous_total=_decimal(data.get("previous_total")),
            budget=_decimal(data.get("budget")),
            forecast=_decimal(data.get("forecast")),
        )


@dataclass(frozen=True)
class Statements:
    """One month's statements for every team, rounded, reconciled and ready to render.

    Invariants (checked where they are built): ``invoice_total == allocated_total +
    unallocated_total``; the team totals add up to ``invoice_total``; each team's lines add up
    to its total. ``focus_rows`` (the cost rows split by allocation, for the FOCUS export) is
    lazy and, like ``run_rate_costs`` (the forecast's input), not part of the stored document.
    """

    period: str
    currency: str
    cost_basis: str
    mode: str
    invoice_total: Decimal
    allocated_total: Decimal
    unallocated_total: Decimal
    teams: tuple[TeamStatement, ...]
    invoice_by_currency: dict[str, str] = field(default_factory=dict)
    fx_rates: dict[str, str] = field(default_factory=dict)
    days_with_data: int | None = None
    days_in_period: int | None = None
    closed: bool = False
    closed_at: str | None = None
    table_versions: dict[str, int | None] = field(default_factory=dict)
    focus_rows: pl.LazyFrame | None = field(default=None, compare=False, repr=False)
    # each team's usage charges, unrounded: what the forecast runs to month end (not stored)
    run_rate_costs: dict[str, Decimal] = field(default_factory=dict, compare=False, repr=False)

    @property
    def complete(self) -> bool:
        """Closed, or its usage data reaches the month's last day: its figures are final."""
        return self.closed or (
            self.days_with_data is not None and self.days_with_data == self.days_in_period
        )

    @property
    def adjustment_total(self) -> Decimal:
        return sum((team.adjustment_total for team in self.teams), Decimal(0))

    def team(self, name: str) -> TeamStatement | None:
        return next((team for team in self.teams if team.team == name), None)

    def document(self) -> dict[str, Any]:
        """Plain data with exact decimal strings: the stored, hashed form."""
        return {
            "period": self.period,
            "currency": self.currency,
            "cost_basis": self.cost_basis,
            "mode": self.mode,
            "invoice_total": _money(self.invoice_total),
            "allocated_total": _money(self.allocated_total),
            "unallocated_total": _money(self.unallocated_total),
            "teams": [team.document() for team in self.teams],
            "invoice_by_currency": self.invoice_by_currency,
            "fx_rates": self.fx_rates,
            "days_with_data": self.days_with_data,
            "days_in_period": self.days_in_period,
            "closed": self.closed,
            "closed_at": self.closed_at,
            "table_versions": self.table_versions,
        }

    def document_text(self) -> str:
        """Canonical JSON of :meth:`document` (sorted keys, no spaces): hashed and stored."""
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.document_text().encode("utf-8")).hexdigest()

    @classmethod
    def from_document_text(cls, text: str) -> Statements:
        data = json.loads(text)
        amounts = {
            key: _decimal(data[key])
            for key in ("invoice_total", "allocated_total", "unallocated_total")
        }
        return cls(
            period=data["period"],
            currency=data["currency"],
            cost_basis=data["cost_basis"],
            mode=data["mode"],
            invoice_total=amounts["invoice_total"] or Decimal(0),
            allocated_total=amounts["allocated_total"] or Decimal(0),
            unallocated_total=amounts["unallocated_total"] or Decimal(0),
            teams=tuple(TeamStatement.from_document(team) for team in data["teams"]),
            invoice_by_currency=data["invoice_by_currency"],
            fx_rates=data["fx_rates"],
            days_with_data=data["days_with_data"],
            days_in_period=data["days_in_period"],
            closed=data["closed"],
            closed_at=data["closed_at"],
            table_versions=data["table_versions"],
        )

    def with_focus_rows(self, rows: pl.LazyFrame | None) -> Statements:
        return replace(self, focus_rows=rows)
