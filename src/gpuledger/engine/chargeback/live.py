"""Live statements: the period's ``allocation`` → one rounded, reconciled statement per team.

What the store holds now, without context: the allocation summed per team and line, checked
against the invoice in every billing currency, converted into the reporting currency and rounded
top-down so that every level adds up. :mod:`gpuledger.engine.chargeback.adjustments` compares
these with closed months; :mod:`gpuledger.engine.chargeback.build` adds the context finance reads.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.chargeback.rounding import (
    MONEY_CONTEXT,
    largest_remainder,
    minor_unit,
    round_money,
)
from gpuledger.engine.chargeback.statements import (
    Line,
    Statements,
    TeamStatement,
    line_order,
    team_order,
)
from gpuledger.errors import ConfigError, GpuledgerError, UsageError
from gpuledger.period import Period
from gpuledger.schema import UNALLOCATED, UNLABELLED, Alloc, Cost
from gpuledger.store.delta import Store

__all__ = [
    "RawLine",
    "fx_rates",
    "last_usage_days",
    "live_statements",
    "round_statements",
    "run_rate_charge",
]

RUN_RATE = "run_rate"  # allocation groups: whether the group's cost grows with the days of use
# Cost types of usage: what ran, sat idle, or ran on no team, and pools shared out of such rows.
USAGE_COST_TYPES = ("usage", "idle", "no_telemetry", "unallocated", "shared")


@dataclass(frozen=True)
class RawLine:
    """A statement line before rounding: exact amount in the reporting currency."""

    team: str
    model: str
    gpu_model: str | None
    cost_type: str
    gpu_hours: float
    cost: Decimal


def live_statements(store: Store, settings: Settings, period: str) -> Statements:
    """Statements of ``period`` from the store as it is now: rounded and reconciled, no context."""
    versions = {"cost": store.version("cost"), "allocation": store.version("allocation")}
    invoice = period_invoice(store, settings, period, versions["cost"])
    allocation = allocation_groups(store, period, versions["allocation"])
    if allocation.is_empty() and any(invoice.values()):
        raise UsageError(
            f"{period} has billing data but no allocation: run `gpuledger attribute"
            f" --period {period}` first"
        )
    check_conservation(period, invoice, allocation)
    rates = fx_rates(settings, period, set(invoice) | set(allocation[Alloc.currency].to_list()))
    lines = raw_lines(allocation, rates)
    statements = round_statements(
        period, settings, lines, _convert_total(invoice, rates), data_days(allocation, period)
    )
    return replace(
        statements,
        invoice_by_currency={c: str(v) for c, v in sorted(invoice.items())},
        fx_rates={c: str(r) for c, r in sorted(rates.items())},
        table_versions=versions,
        run_rate_costs=run_rate_costs(allocation, rates),
    )


def run_rate_charge() -> pl.Expr:
    """Whether an allocation row's cost accrues with the days of use, so a forecast scales it.

    Usage charges (FOCUS ChargeCategory ``Usage``, or none given) of a usage cost type
    (:data:`USAGE_COST_TYPES`) do. Tax, credits and refunds (``Adjustment``), purchases and
    commitment fees are charged once or once a month whatever the days of use, as are pools
    shared out of them: a forecast adds them as they are.
    """
    usage = pl.col(Alloc.ChargeCategory).fill_null("Usage") == "Usage"
    return usage & pl.col(Alloc.cost_type).fill_null("usage").is_in(USAGE_COST_TYPES)


def allocation_groups(store: Store, period: str, version: int | None) -> pl.DataFrame:
    """The period's allocation summed per team × model × GPU model × cost type × currency, and
    whether it accrues with the days of use (:data:`RUN_RATE`, see :func:`run_rate_charge`).

    Summed in the scan, so a month of hourly allocation rows never needs to fit in memory;
    ``day`` keeps the latest allocated day (for the forecast). A null model reads
    ``(unlabelled)`` and a null cost type ``usage``, so no row falls out of a group.
    """
    return (
        store.scan("allocation", version)
        .filter(pl.col(Alloc.x_BillingPeriod) == period)
        .with_columns(run_rate_charge().alias(RUN_RATE))
        .with_columns(
            pl.col(Alloc.model).fill_null(UNLABELLED),
            pl.col(Alloc.cost_type).fill_null("usage"),
        )
        .group_by(
            Alloc.team, Alloc.model, Alloc.x_GpuModel, Alloc.cost_type, Alloc.currency, RUN_RATE
        )
        .agg(pl.col(Alloc.gpu_hours).sum(), pl.col(Alloc.cost).sum(), pl.col(Alloc.day).max())
        .collect()
    )


def period_invoice(
    store: Store, settings: Settings, period: str, version: int | None
) -> dict[str, Decimal]:
    """The invoice of ``period`` per billing currency: the cost basis summed over its cost rows."""
    basis = settings.reporting.cost_basis
    frame = (
        store.scan("cost", version)
        .filter(pl.col(Cost.x_BillingPeriod) == period)
        .group_by(Cost.BillingCurrency)
        .agg(pl.col(basis).sum())
        .collect()
    )
    return {row[Cost.BillingCurrency]: row[basis] or Decimal(0) for row in frame.to_dicts()}


def check_conservation(period: str, invoice: dict[str, Decimal], allocation: pl.DataFrame) -> None:
    """Refuse to build statements from an allocation that does not add up to the invoice.

    Conservation holds per billing currency, compared in that currency's minor unit: a
    difference means the allocation is stale (billing data arrived after attribution) or wrong,
    and a statement built from it would not reconcile.
    """
    allocated = {
        row[Alloc.currency]: row[Alloc.cost] or Decimal(0)
        for row in allocation.group_by(Alloc.currency).agg(pl.col(Alloc.cost).sum()).to_dicts()
    }
    for currency in sorted(set(invoice) | set(allocated)):
        billed = round_money(invoice.get(currency, Decimal(0)), currency)
        spread = round_money(allocated.get(currency, Decimal(0)), currency)
        if billed != spread:
            raise GpuledgerError(
                f"{period}: allocation does not reconcile with the invoice in {currency}"
                f" (invoice {billed}, allocated {spread}); re-run"
                f" `gpuledger attribute --period {period}`"
            )


def fx_rates(settings: Settings, period: str, currencies: set[str]) -> dict[str, Decimal]:
    """Rate of each billing currency into the reporting currency (1 for the reporting one)."""
    reporting = settings.reporting.currency
    configured = settings.fx.get(period, {})
    rates: dict[str, Decimal] = {}
    for currency in sorted(currencies):
        if currency == reporting:
            rates[currency] = Decimal(1)
        elif currency in configured:
            rates[currency] = Decimal(configured[currency])
        else:
            raise ConfigError(
                f"{period} has costs in {currency} but no exchange rate into {reporting}"
                f' (expected [fx."{period}"] {currency} = <{reporting} per 1 {currency}>)'
            )
    return rates


def raw_lines(allocation: pl.DataFrame, rates: dict[str, Decimal]) -> list[RawLine]:
    """Allocation groups (see :func:`allocation_groups`) merged across currencies, converted
    into the reporting currency, one per team × model × GPU model × cost type."""
    merged: dict[tuple[str, str, str | None, str], list[Decimal | float]] = defaultdict(
        lambda: [Decimal(0), 0.0]
    )
    with decimal.localcontext(MONEY_CONTEXT):
        for row in allocation.to_dicts():
            key = (row[Alloc.team], row[Alloc.model], row[Alloc.x_GpuModel], row[Alloc.cost_type])
            amount = (row[Alloc.cost] or Decimal(0)) * rates[row[Alloc.currency]]
            merged[key][0] = Decimal(merged[key][0]) + amount
            merged[key][1] = float(merged[key][1]) + (row[Alloc.gpu_hours] or 0.0)
    return [
        RawLine(*key, gpu_hours=round(float(hours), 3), cost=Decimal(cost))
        for key, (cost, hours) in sorted(merged.items(), key=lambda kv: str(kv[0]))
    ]


def run_rate_costs(allocation: pl.DataFrame, rates: dict[str, Decimal]) -> dict[str, Decimal]:
    """Each team's usage charges (:func:`run_rate_charge`) in the reporting currency, unrounded:
    the part of its cost a forecast runs to month end."""
    costs: dict[str, Decimal] = defaultdict(Decimal)
    with decimal.localcontext(MONEY_CONTEXT):
        for row in allocation.filter(pl.col(RUN_RATE)).to_dicts():
            amount = (row[Alloc.cost] or Decimal(0)) * rates[row[Alloc.currency]]
            costs[row[Alloc.team]] += amount
    return dict(costs)


def round_statements(
    period: str,
    settings: Settings,
    lines: list[RawLine],
    invoice: Decimal,
    days: tuple[int | None, int],
) -> Statements:
    """Round the raw lines top-down so that every level adds up exactly.

    The invoice total is rounded to the reporting currency's minor unit (halves away from
    zero). The team totals are fitted to it by largest remainder, then each team's lines to
    its rounded total by largest remainder again (rule in full at
    :func:`~gpuledger.engine.chargeback.rounding.largest_remainder`). So the rounded lines sum exactly to
    the rounded team total, and the team totals exactly to the rounded invoice.
    """
    currency = settings.reporting.currency
    unit = minor_unit(currency)
    by_team: dict[str, list[RawLine]] = defaultdict(list)
    for line in lines:
        by_team[line.team].append(line)
    names = sorted(by_team, key=team_order)
    invoice_total = round_money(invoice, currency)
    with decimal.localcontext(MONEY_CONTEXT):
        raw_totals = [sum((line.cost for line in by_team[n]), Decimal(0)) for n in names]
    team_totals = largest_remainder(raw_totals, invoice_total, unit)
    teams = tuple(
        _round_team(name, by_team[name], total, unit)
        for name, total in zip(names, team_totals, strict=True)
    )
    unallocated = sum((t.total for t in teams if t.team == UNALLOCATED), Decimal(0))
    return Statements(
        period=period,
        currency=currency,
        cost_basis=settings.reporting.cost_basis,
        mode=settings.reporting.mode,
        invoice_total=invoice_total,
        allocated_total=invoice_total - unallocated,
        unallocated_total=unallocated,
        teams=teams,
        days_with_data=days[0],
        days_in_period=days[1],
    )


def _round_team(name: str, raw: list[RawLine], total: Decimal, unit: Decimal) -> TeamStatement:
    costs = largest_remainder([line.cost for line in raw], total, unit)
    lines = [
        Line(line.model, line.gpu_model, line.cost_type, line.gpu_hours, cost)
        for line, cost in zip(raw, costs, strict=True)
    ]
    return TeamStatement(team=name, total=total, lines=tuple(sorted(lines, key=line_order)))


def data_days(allocation: pl.DataFrame, period: str) -> tuple[int | None, int]:
    """(last day of the month with data, days in the month): the run-rate forecast's inputs.

    The last day is the latest day of usage charges: a fee or tax row dated at the month's end
    says nothing about how far the usage data reaches. A month without usage charges takes the
    latest day of any row.
    """
    month = Period.parse(period)
    usage = allocation.filter(pl.col(RUN_RATE) & pl.col(Alloc.day).is_not_null())
    dated = usage if usage.height else allocation
    last = dated[Alloc.day].max()
    if not isinstance(last, date) or Period.of(last) != month:
        return (None, month.days)
    return (last.day, month.days)


def last_usage_days(allocation: pl.LazyFrame) -> dict[str, date | None]:
    """Every allocated period's last day of data, by the rule of :func:`data_days`."""
    frame = (
        allocation.group_by(Alloc.x_BillingPeriod)
        .agg(
            pl.col(Alloc.day).filter(run_rate_charge()).max().alias("usage"),
            pl.col(Alloc.day).max().alias("any"),
        )
        .collect()
    )
    return {
        row[Alloc.x_BillingPeriod]: row["usage"] or row["any"]
        for row in frame.to_dicts()
        if row[Alloc.x_BillingPeriod]
    }


def _convert_total(invoice: dict[str, Decimal], rates: dict[str, Decimal]) -> Decimal:
    with decimal.localcontext(MONEY_CONTEXT):
        return sum((amount * rates[c] for c, amount in invoice.items()), Decimal(0))
