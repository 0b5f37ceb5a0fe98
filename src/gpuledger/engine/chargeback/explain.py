"""Statements + allocation + cost → why a statement line is what it is (``gpuledger explain``).

A statement line (team × model × GPU model × cost type) is the sum of allocation rows, and each
allocation row names the cost rows it came from by its source keys (:data:`SOURCE_KEYS`). The
explanation sums the line's allocation rows by rule, and by source and rule; converts each sum
into the reporting currency at the statements' own exchange rates; and fits the parts to the
line's rounded amount by largest remainder. So the rules shown add up exactly to the line, and
so do the top sources plus one "other sources" remainder.

The allocation is read at the table versions the statements were built from: for a closed month
those pinned at close, so the explanation is of the stored statement. The line is then summed
again from the allocation as it is now; a different amount means the month was *restated*.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Final

import polars as pl

from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.rounding import (
    MONEY_CONTEXT,
    largest_remainder,
    minor_unit,
    round_money,
)
from gpuledger.engine.chargeback.statements import Line, Statements, TeamStatement
from gpuledger.errors import GpuledgerError, UsageError
from gpuledger.schema import ALLOCATION_SOURCE_KEYS, UNLABELLED, Alloc, Cost
from gpuledger.store.delta import Store

__all__ = ["Explanation", "RulePart", "SourcePart", "explain", "find_line"]

DEFAULT_TOP: Final = 10
# The allocation's source keys: what names the cost rows an allocation row came from.
SOURCE_KEYS: Final = ALLOCATION_SOURCE_KEYS
_ORIGINAL = "_original"
_ROWS = "_rows"


@dataclass(frozen=True)
class RulePart:
    """What one allocation rule put on the line: ``cost`` in the statement currency, rounded."""

    rule: str
    cost: Decimal
    gpu_hours: float
    sources: int


@dataclass(frozen=True)
class SourcePart:
    """One source of the line: the cost rows of one source key, and what ``rule`` took of them.

    ``original`` is the cost basis of those cost rows in their billing ``currency`` (None when
    the cost table holds none), ``allocated`` the part of it on this line (same currency, exact),
    ``share`` their ratio, and ``cost`` that part in the statement currency, fitted so that the
    sources add up to the line.
    """

    day: date | None
    provider: str | None
    account: str | None
    sub_account: str | None
    resource_id: str | None
    gpu_model: str | None
    service: str | None
    charge_category: str | None
    pricing_category: str | None
    currency: str
    rule: str
    original: Decimal | None
    cost_rows: int
    allocated: Decimal
    share: float | None
    gpu_hours: float
    cost: Decimal


@dataclass(frozen=True)
class Explanation:
    """One statement line, the rules and the sources that add up to it exactly.

    ``other_cost`` is what the ``other_sources`` sources beyond the top ones add. For a closed
    month ``current_cost`` is the line summed from the allocation as it is now (rounded on its
    own) and ``restated`` says whether it differs from the allocation the month was closed from.
    """

    period: str
    team: str
    number: int
    line_id: str
    line: Line
    currency: str
    cost_basis: str
    closed: bool
    closed_at: str | None
    rules: tuple[RulePart, ...]
    sources: tuple[SourcePart, ...]
    other_sources: int
    other_cost: Decimal
    restated: bool | None = None
    current_cost: Decimal | None = None


def find_line(statements: Statements, team: TeamStatement, ref: str) -> tuple[int, Line]:
    """The line ``ref`` names: its 1-based number on the team's statement, or its line id.

    Raises UsageError for a reference that names no line, and for an adjustment line's id
    (pointing at the closed month it corrects, which is where its cost comes from).
    """
    period = statements.period
    for number, line in enumerate(team.lines, start=1):
        if ref in (str(number), line_id(period, team.team, line)):
            return number, line
    for line in team.adjustments:
        if ref == line_id(period, team.team, line):
            raise UsageError(
                f"{ref} is an adjustment line of {team.team} correcting closed"
                f" {line.corrects_period}: run `gpuledger explain --period"
                f" {line.corrects_period} --team {team.team}` to see that month restated"
            )
    raise UsageError(
        f"{team.team} has no line {ref!r} in {period} (expected a line number 1–"
        f"{len(team.lines)} or a line id as `chargeback --format json|csv|xlsx` shows it)"
    )


def explain(
    store: Store,
    statements: Statements,
    team: str,
    *,
    line: str | None = None,
    model: str | None = None,
    top: int = DEFAULT_TOP,
) -> list[Explanation]:
    """Explain ``line`` (number or id) of ``team``'s statement, else each of its lines (of
    ``model`` where given). Raises UsageError for an unknown team, model or line."""
    found = statements.team(team)
    if found is None:
        teams = ", ".join(t.team for t in statements.teams) or "none"
        raise UsageError(f"no team {team!r} in {statements.period} (teams: {teams})")
    if line is not None:
        number, named = find_line(statements, found, line)
        if model not in (None, named.model):
            raise UsageError(f"line {line} of {team} is of model {named.model!r}, not {model!r}")
        selected = [(number, named)]
    else:
        selected = [(n, ln) for n, ln in enumerate(found.lines, 1) if model in (None, ln.model)]
    if not selected and model is not None:
        models = ", ".join(sorted({ln.model for ln in found.lines})) or "none"
        raise UsageError(
            f"{team} has no line of model {model!r} in {statements.period} (models: {models})"
        )
    pinned = team_allocation(store, statements, team, statements.table_versions.get("allocation"))
    current = None
    if statements.closed:
        current = team_allocation(store, statements, team, store.version("allocation"))
    explained = [_explain_line(statements, team, n, ln, pinned, current, top) for n, ln in selected]
    originals = source_originals(
        store, statements, [source for e in explained for source in e.sources]
    )
    return [
        replace(e, sources=tuple(_with_original(s, originals) for s in e.sources))
        for e in explained
    ]


def team_allocation(
    store: Store, statements: Statements, team: str, version: int | None
) -> pl.DataFrame:
    """The team's allocation of the month at ``version``, summed by line, source and rule.

    Nulls read as the statements read them: model ``(unlabelled)``, cost type ``usage``.
    """
    return (
        store.scan("allocation", version)
        .filter((pl.col(Alloc.x_BillingPeriod) == statements.period) & (pl.col(Alloc.team) == team))
        .with_columns(
            pl.col(Alloc.model).fill_null(UNLABELLED),
            pl.col(Alloc.cost_type).fill_null("usage"),
        )
        .group_by(Alloc.model, Alloc.cost_type, *SOURCE_KEYS, Alloc.rule)
        .agg(pl.col(Alloc.cost).sum(), pl.col(Alloc.gpu_hours).sum())
        .collect()
    )


def _line_rows(allocation: pl.DataFrame, line: Line) -> pl.DataFrame:
    gpu = pl.col(Alloc.x_GpuModel)
    return allocation.filter(
        (pl.col(Alloc.model) == line.model)
        & (pl.col(Alloc.cost_type) == line.cost_type)
        & (gpu.is_null() if line.gpu_model is None else gpu == line.gpu_model)
    )


def _converted(statements: Statements, rows: list[dict[str, Any]]) -> list[Decimal]:
    """Each row's cost in the statement currency at the statements' exchange rates."""
    rates = {currency: Decimal(rate) for currency, rate in statements.fx_rates.items()}
    rates.setdefault(statements.currency, Decimal(1))
    with decimal.localcontext(MONEY_CONTEXT):
        try:
            return [(row[Alloc.cost] or Decimal(0)) * rates[row[Alloc.currency]] for row in rows]
        except KeyError as missing:
            raise GpuledgerError(
                f"{statements.period}: the statements hold no exchange rate for {missing}"
            ) from None


def _explain_line(
    statements: Statements,
    team: str,
    number: int,
    line: Line,
    pinned: pl.DataFrame,
    current: pl.DataFrame | None,
    top: int,
) -> Explanation:
    rows = _line_rows(pinned, line).to_dicts()
    amounts = _converted(statements, rows)
    if not rows and line.cost:
        raise GpuledgerError(
            f"{statements.period} {team}: no allocation rows make up the line {line.model} /"
            f" {line.gpu_model or '-'} / {line.cost_type} at the version it was built from"
        )
    ranked = sorted(zip(rows, amounts, strict=True), key=_rank)
    head, rest = ranked[:top], ranked[top:]
    unit = minor_unit(statements.currency)
    with decimal.localcontext(MONEY_CONTEXT):
        rest_total = sum((amount for _, amount in rest), Decimal(0))
    fitted = largest_remainder(
        [amount for _, amount in head] + ([rest_total] if rest else []), line.cost, unit
    )
    restated, now = _restatement(statements, line, pinned, current)
    return Explanation(
        period=statements.period,
        team=team,
        number=number,
        line_id=line_id(statements.period, team, line),
        line=line,
        currency=statements.currency,
        cost_basis=statements.cost_basis,
        closed=statements.closed,
        closed_at=statements.closed_at,
        rules=_rules(rows, amounts, line.cost, unit),
        sources=tuple(_source(row, cost) for (row, _), cost in zip(head, fitted, strict=False)),
        other_sources=len(rest),
        other_cost=fitted[-1] if rest else Decimal(0) * unit,
        restated=restated,
        current_cost=now,
    )


def _rank(item: tuple[dict[str, Any], Decimal]) -> tuple[Decimal, str]:
    """Largest amount first; ties in a fixed order of the source keys."""
    row, amount = item
    return (-abs(amount), "\x1f".join(str(row[k]) for k in (*SOURCE_KEYS, Alloc.rule)))


def _rules(
    rows: list[dict[str, Any]], amounts: list[Decimal], target: Decimal, unit: Decimal
) -> tuple[RulePart, ...]:
    """The line summed by rule, largest first, fitted to the line's rounded cost."""
    by_rule: dict[str, list[Any]] = {}
    with decimal.localcontext(MONEY_CONTEXT):
        for row, amount in zip(rows, amounts, strict=True):
            part = by_rule.setdefault(row[Alloc.rule], [Decimal(0), 0.0, 0])
            part[0] += amount
            part[1] += row[Alloc.gpu_hours] or 0.0
            part[2] += 1
    order = sorted(by_rule, key=lambda rule: (-abs(by_rule[rule][0]), rule))
    costs = largest_remainder([by_rule[rule][0] for rule in order], target, unit)
    return tuple(
        RulePart(rule, cost, round(by_rule[rule][1], 3), by_rule[rule][2])
        for rule, cost in zip(order, costs, strict=True)
    )


def _source(row: dict[str, Any], cost: Decimal) -> SourcePart:
    return SourcePart(
        day=row[Alloc.day],
        provider=row[Alloc.ProviderName],
        account=row[Alloc.BillingAccountId],
        sub_account=row[Alloc.SubAccountId],
        resource_id=row[Alloc.ResourceId],
        gpu_model=row[Alloc.x_GpuModel],
        service=row[Alloc.ServiceName],
        charge_category=row[Alloc.ChargeCategory],
        pricing_category=row[Alloc.PricingCategory],
        currency=row[Alloc.currency],
        rule=row[Alloc.rule],
        original=None,
        cost_rows=0,
        allocated=row[Alloc.cost] or Decimal(0),
        share=None,
        gpu_hours=round(row[Alloc.gpu_hours] or 0.0, 3),
        cost=cost,
    )


def _source_key(source: SourcePart) -> tuple[Any, ...]:
    return (
        source.day,
        source.provider,
        source.account,
        source.sub_account,
        source.resource_id,
        source.gpu_model,
        source.service,
        source.charge_category,
        source.pricing_category,
        source.currency,
    )


def cost_source_keys() -> list[pl.Expr]:
    """A cost row's source keys, derived as attribution derives them for its allocation rows.

    The day is the day of ``ChargePeriodStart``; a split line's resource (a GPU SKU, a pod) is
    its parent instance (``x_ParentResourceId``); the currency is the billing currency.
    """
    derived = {
        Alloc.day: pl.col(Cost.ChargePeriodStart).dt.date(),
        Alloc.ResourceId: pl.coalesce(Cost.x_ParentResourceId, Cost.ResourceId),
        Alloc.currency: pl.col(Cost.BillingCurrency),
    }
    return [derived.get(name, pl.col(name)).alias(name) for name in SOURCE_KEYS]


def source_originals(
    store: Store, statements: Statements, sources: list[SourcePart]
) -> dict[tuple[Any, ...], tuple[Decimal, int]]:
    """(cost basis, row count) of the cost rows behind each source, at the statements' version."""
    if not sources:
        return {}
    resources = sorted({s.resource_id for s in sources if s.resource_id is not None})
    frame = (
        store.scan("cost", statements.table_versions.get("cost"))
        .filter(pl.col(Cost.x_BillingPeriod) == statements.period)
        .select(*cost_source_keys(), pl.col(statements.cost_basis).alias(_ORIGINAL))
        .filter(pl.col(Alloc.ResourceId).is_in(resources) | pl.col(Alloc.ResourceId).is_null())
        .group_by(SOURCE_KEYS)
        .agg(pl.col(_ORIGINAL).sum(), pl.len().alias(_ROWS))
        .collect()
    )
    return {
        tuple(row[k] for k in SOURCE_KEYS): (row[_ORIGINAL] or Decimal(0), row[_ROWS])
        for row in frame.to_dicts()
    }


def _with_original(
    source: SourcePart, originals: dict[tuple[Any, ...], tuple[Decimal, int]]
) -> SourcePart:
    found = originals.get(_source_key(source))
    if found is None:
        return source
    original, rows = found
    share = float(source.allocated / original) if original else None
    return replace(source, original=original, cost_rows=rows, share=share)


def _restatement(
    statements: Statements, line: Line, pinned: pl.DataFrame, current: pl.DataFrame | None
) -> tuple[bool | None, Decimal | None]:
    """(restated, the line now) for a closed month; (None, None) for an open one."""
    if current is None:
        return None, None

    def total(frame: pl.DataFrame) -> Decimal:
        amounts = _converted(statements, _line_rows(frame, line).to_dicts())
        with decimal.localcontext(MONEY_CONTEXT):
            return round_money(sum(amounts, Decimal(0)), statements.currency)

    now = total(current)
    return now != total(pinned), now
