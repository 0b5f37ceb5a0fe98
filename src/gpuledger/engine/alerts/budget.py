"""Budget alerts: each team's month-to-date spend and forecast against its ``[teams.X] budget``.

Month to date is the team's allocation of the month (up to ``today`` when given) in the
reporting currency. The forecast is the statement's run-rate forecast
(:func:`~gpuledger.engine.chargeback.build.forecast`): usage charges run at their daily rate from
the last day of usage data to the month's end, one-off charges added as they are. A team is
alerted once per ``[alerts] budget_thresholds`` share its month to date has reached, and once
when its forecast passes the budget.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final

import polars as pl

from gpuledger.columns import UNALLOCATED
from gpuledger.config import Settings
from gpuledger.engine.alerts.model import Alert, alert_id
from gpuledger.engine.chargeback.build import forecast
from gpuledger.engine.chargeback.live import fx_rates, run_rate_charge
from gpuledger.engine.chargeback.rounding import MONEY_CONTEXT, round_money
from gpuledger.period import Period
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store

__all__ = ["BudgetState", "budget_alerts", "budget_states"]

_RUN_RATE: Final = "_run_rate"


@dataclass(frozen=True)
class BudgetState:
    """One team's month against its budget."""

    team: str
    budget: Decimal | None
    month_to_date: Decimal
    forecast: Decimal | None
    crossed: tuple[float, ...]  # the configured thresholds month to date has reached
    currency: str

    @property
    def share(self) -> float | None:
        """Month to date as a share of the budget (1.0 = all of it)."""
        return float(self.month_to_date / self.budget) if self.budget else None

    @property
    def forecast_over(self) -> bool:
        return self.budget is not None and self.forecast is not None and self.forecast > self.budget

    @property
    def state(self) -> str:
        """``no budget``, ``over`` (month to date), ``forecast over``, ``warning`` (a threshold
        under 100 % reached) or ``ok``."""
        if self.budget is None:
            return "no budget"
        if self.month_to_date >= self.budget:
            return "over"
        if self.forecast_over:
            return "forecast over"
        return "warning" if self.crossed else "ok"


def budget_states(
    store: Store, settings: Settings, period: str, today: date | None = None
) -> list[BudgetState]:
    """Every team with a budget or spend in ``period``: budget, month to date, forecast and the
    thresholds crossed; teams with a budget first, then by name."""
    currency = settings.reporting.currency
    spend, usage, last_day = _team_spend(store, settings, period, today)
    in_month = Period.parse(period).days
    thresholds = sorted(settings.alerts.budget_thresholds)
    budgets = {
        name: team.budget for name, team in settings.teams.items() if team.budget is not None
    }
    states = []
    for team in sorted(set(spend) | set(budgets)):
        budget = budgets.get(team)
        total = round_money(spend.get(team, Decimal(0)), currency)
        ahead = forecast(
            spend.get(team, Decimal(0)), usage.get(team, Decimal(0)), (last_day, in_month), currency
        )
        ahead = None if ahead is None else round_money(ahead, currency)
        limit = None if budget is None else round_money(Decimal(budget), currency)
        crossed = (
            ()
            if limit is None
            else tuple(t for t in thresholds if total >= limit * Decimal(str(t)))
        )
        states.append(BudgetState(team, limit, total, ahead, crossed, currency))
    return sorted(states, key=lambda s: (s.budget is None, s.team == UNALLOCATED, s.team))


def budget_alerts(
    store: Store, settings: Settings, period: str, today: date | None = None
) -> list[Alert]:
    """One alert per threshold a team's month to date has crossed, and one when its forecast
    passes its budget; ids stay the same however often this runs."""
    alerts = []
    for state in budget_states(store, settings, period, today):
        if state.budget is None:
            continue
        for threshold in state.crossed:
            alerts.append(_threshold_alert(state, period, threshold))
        if state.forecast_over:
            alerts.append(_forecast_alert(state, period))
    return alerts


def _threshold_alert(state: BudgetState, period: str, threshold: float) -> Alert:
    assert state.budget is not None
    line = round_money(state.budget * Decimal(str(threshold)), state.currency)
    share = state.share or 0.0
    return _budget_alert(
        state,
        period,
        f"{threshold:g}",
        actual=state.month_to_date,
        impact=state.month_to_date - line,
        title=(
            f"team {state.team} has spent {share:.0%} of its {state.budget:,} {state.currency}"
            f" budget for {period} ({threshold:.0%} threshold)"
        ).replace("%", " %"),
        explanation=(
            f"month to date {state.month_to_date:,} {state.currency} against a budget of"
            f" {state.budget:,}; forecast for the month {_text(state.forecast)}"
        ),
        threshold=threshold,
    )


def _forecast_alert(state: BudgetState, period: str) -> Alert:
    assert state.budget is not None
    assert state.forecast is not None
    return _budget_alert(
        state,
        period,
        "forecast",
        actual=state.forecast,
        impact=state.forecast - state.budget,
        title=(
            f"team {state.team} is forecast to spend {state.forecast:,} {state.currency} in"
            f" {period}, over its {state.budget:,} budget"
        ),
        explanation=(
            f"month to date {state.month_to_date:,} {state.currency}; at its current daily rate"
            f" the month ends {state.forecast - state.budget:,} over budget"
        ),
        threshold=1.0,
        forecast=True,
    )


def _budget_alert(
    state: BudgetState,
    period: str,
    crossing: str,
    *,
    actual: Decimal,
    impact: Decimal,
    title: str,
    explanation: str,
    threshold: float,
    forecast: bool = False,
) -> Alert:
    """A team's budget alert for one ``crossing`` (a threshold, or the forecast) of ``period``."""
    assert state.budget is not None
    return Alert(
        id=alert_id("budget", period, "team", state.team, crossing),
        kind="budget",
        period=period,
        team=state.team,
        dimension="team",
        key=state.team,
        day=None,
        expected=state.budget,
        actual=actual,
        impact=impact,
        title=title,
        explanation=explanation,
        threshold=threshold,
        forecast=forecast,
    )


def _text(amount: Decimal | None) -> str:
    return "unknown (no dated usage yet)" if amount is None else f"{amount:,}"


def _team_spend(
    store: Store, settings: Settings, period: str, today: date | None
) -> tuple[dict[str, Decimal], dict[str, Decimal], int | None]:
    """Each team's month to date and its usage charges (the part the forecast runs to the
    month's end), unrounded in the reporting currency, and the last day of usage data."""
    month = Period.parse(period)
    rows = store.scan("allocation").filter(pl.col(Alloc.x_BillingPeriod) == period)
    if today is not None:
        rows = rows.filter(pl.col(Alloc.day).fill_null(month.start.date()) <= today)
    groups = (
        rows.with_columns(
            run_rate_charge().alias(_RUN_RATE), pl.col(Alloc.team).fill_null(UNALLOCATED)
        )
        .group_by(Alloc.team, Alloc.currency, _RUN_RATE)
        .agg(pl.col(Alloc.cost).sum(), pl.col(Alloc.day).max())
        .collect()
    )
    rates = fx_rates(settings, period, {c for c in groups[Alloc.currency].to_list() if c})
    spend: dict[str, Decimal] = {}
    usage: dict[str, Decimal] = {}
    with decimal.localcontext(MONEY_CONTEXT):
        for row in groups.to_dicts():
            amount = (row[Alloc.cost] or Decimal(0)) * rates[row[Alloc.currency]]
            spend[row[Alloc.team]] = spend.get(row[Alloc.team], Decimal(0)) + amount
            if row[_RUN_RATE]:
                usage[row[Alloc.team]] = usage.get(row[Alloc.team], Decimal(0)) + amount
    dated = groups.filter(pl.col(_RUN_RATE) & pl.col(Alloc.day).is_not_null())
    last = (dated if dated.height else groups)[Alloc.day].max()
    in_month = isinstance(last, date) and Period.of(last) == month
    return spend, usage, last.day if in_month and isinstance(last, date) else None
