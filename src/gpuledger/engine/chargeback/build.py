"""Monthly chargeback: live statements + adjustments + context → what every output renders.

Entry point: :func:`build_statements`. A closed month is read back from its stored document
(byte-identical output for ever); an open month's live statements
(:mod:`gpuledger.engine.chargeback.live`) are compared with the month before, set against each
team's budget and run-rate forecast, and carry the adjustment lines that correct closed months
(see :mod:`gpuledger.engine.chargeback.adjustments`).
"""

from __future__ import annotations

import decimal
from dataclasses import replace
from decimal import Decimal

from gpuledger.config import Settings
from gpuledger.engine.chargeback.adjustments import adjustments_for
from gpuledger.engine.chargeback.allocated_cost import allocated_cost_rows
from gpuledger.engine.chargeback.freshness import allocation_staleness
from gpuledger.engine.chargeback.live import live_statements
from gpuledger.engine.chargeback.rounding import MONEY_CONTEXT, round_money
from gpuledger.engine.chargeback.statement_store import load_closed
from gpuledger.engine.chargeback.statements import (
    Line,
    Statements,
    TeamStatement,
    line_order,
    team_order,
)
from gpuledger.errors import GpuledgerError, UsageError
from gpuledger.period import Period
from gpuledger.store.delta import Store

__all__ = ["Statements", "build_statements", "forecast"]


def build_statements(store: Store, settings: Settings, period: str) -> Statements:
    """The chargeback statements of ``period`` ("YYYY-MM"): what every output renders.

    A closed month returns its stored statements unchanged (with the FOCUS rows read at the
    table versions it was closed from). An open month is built from the current ``allocation``:
    previous-month comparison, budgets and forecast, and adjustment lines for closed months
    whose billing data changed since they were closed. Raises UsageError when the month has no
    data at all or its allocation is stale (its inputs changed since attribution, see
    :mod:`~gpuledger.engine.chargeback.freshness`), and GpuledgerError when the allocation does
    not reconcile with the invoice.
    """
    month = Period.parse(period)
    stored = load_closed(store.state, period)
    if stored is not None:
        return stored.with_focus_rows(
            allocated_cost_rows(store, settings, period, stored.table_versions)
        )
    stale = allocation_staleness(store, period)
    if stale is not None:
        raise UsageError(stale.message())
    statements = live_statements(store, settings, period)
    adjustments = adjustments_for(store, settings, period)
    if not statements.teams and not adjustments and not statements.invoice_by_currency:
        raise UsageError(
            f"no billing data for {period}: ingest the month's exports first"
            " (`gpuledger ingest aws|gcp|focus SRC`)"
        )
    previous = _previous_statements(store, settings, str(month.previous()))
    statements = with_context(statements, settings, previous, adjustments)
    return statements.with_focus_rows(
        allocated_cost_rows(store, settings, period, statements.table_versions)
    )


def forecast(
    total: Decimal, usage: Decimal, days: tuple[int | None, int], currency: str
) -> Decimal | None:
    """The month's cost at its end: ``total + usage × (days in month − last day) ÷ last day``.

    ``total`` is the cost so far; ``usage`` the part of it that accrues with the days of use
    (:func:`~gpuledger.engine.chargeback.live.run_rate_charge`), run at its daily rate to the
    month's end. Tax, credits, refunds, purchases and commitment fees are in ``total`` once and
    are not scaled. "Last day" is the latest day of usage data, so usage to the 10th of 31 days
    forecasts 3.1 times that usage. A complete month forecasts its own total exactly; a month
    without dated rows has no forecast. Rounded half up to the currency's minor unit.
    """
    last, in_month = days
    if last is None:
        return None
    if last >= in_month:
        return total
    with decimal.localcontext(MONEY_CONTEXT):
        return round_money(total + usage * (in_month - last) / Decimal(last), currency)


def with_context(
    statements: Statements,
    settings: Settings,
    previous: Statements | None,
    adjustments: dict[str, list[Line]],
) -> Statements:
    """Add what finance reads next to the numbers: last month, budget, forecast, adjustments."""
    teams = {team.team: team for team in statements.teams}
    for name in adjustments:
        teams.setdefault(name, TeamStatement(team=name, total=Decimal(0), lines=()))
    days = (statements.days_with_data, statements.days_in_period or 0)
    enriched = []
    for name in sorted(teams, key=team_order):
        team = teams[name]
        before = previous.team(name) if previous else None
        budget = settings.teams[name].budget if name in settings.teams else None
        enriched.append(
            replace(
                team,
                lines=tuple(_with_previous(team.lines, before, statements.currency)),
                adjustments=tuple(sorted(adjustments.get(name, []), key=line_order)),
                previous_total=before.total if before else None,
                budget=None
                if budget is None
                else round_money(Decimal(budget), statements.currency),
                forecast=_team_forecast(statements, team, days),
            )
        )
    return replace(statements, teams=tuple(enriched))


def _team_forecast(
    statements: Statements, team: TeamStatement, days: tuple[int | None, int]
) -> Decimal | None:
    if not team.lines:
        return None
    usage = statements.run_rate_costs.get(team.team, Decimal(0))
    return forecast(team.total, usage, days, statements.currency)


def _with_previous(
    lines: tuple[Line, ...], before: TeamStatement | None, currency: str
) -> list[Line]:
    """Each line's cost last month: zero for a line the team did not have then."""
    if before is None:
        return list(lines)
    costs = {line.key: line.cost for line in before.lines}
    zero = round_money(Decimal(0), currency)
    return [replace(line, previous=costs.get(line.key, zero)) for line in lines]


def _previous_statements(store: Store, settings: Settings, before: str) -> Statements | None:
    """The month ``before`` as finance saw it: its stored statements if closed, else built live."""
    stored = load_closed(store.state, before)
    if stored is not None:
        return stored
    try:
        statements = live_statements(store, settings, before)
    except GpuledgerError:
        return None  # the comparison is context: a month that cannot be built has none
    return statements if statements.teams else None
