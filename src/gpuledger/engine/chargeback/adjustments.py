"""Corrections of closed months: billing data that changed after close → adjustment lines.

A closed month never changes. When its billing data changes later (a restated CUR, a late
credit), the difference between the month as it would be built now and as it was closed becomes
adjustment lines on the statements of the next open month, labelled with the month they correct.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from decimal import Decimal
from typing import Any

from gpuledger.config import Settings
from gpuledger.engine.chargeback.live import live_statements
from gpuledger.engine.chargeback.rounding import MONEY_CONTEXT
from gpuledger.engine.chargeback.statement_store import closed_documents
from gpuledger.engine.chargeback.statements import Line, Statements
from gpuledger.errors import ConfigError, GpuledgerError
from gpuledger.period import Period
from gpuledger.store.delta import Store

_Key = tuple[str, str, str | None, str]  # team, model, GPU model, cost type


def next_open_period(period: str, closed: set[str]) -> str:
    """The first month after ``period`` that is not closed: where its corrections land."""
    candidate = Period.parse(period).next()
    while str(candidate) in closed:
        candidate = candidate.next()
    return str(candidate)


def adjustments_for(store: Store, settings: Settings, period: str) -> dict[str, list[Line]]:
    """Adjustment lines per team for the open month ``period``.

    For each closed month whose next open month is ``period``: its statements as built from
    the store now, minus its stored statements, minus the corrections of it already booked on
    later closed months. Every amount involved is already rounded, so each adjustment is exact
    to the cent and a team's adjustments equal the change of its closed-month total.
    """
    documents = closed_documents(store.state)
    result: dict[str, list[Line]] = defaultdict(list)
    for corrected in sorted(documents):
        if corrected >= period or next_open_period(corrected, set(documents)) != period:
            continue
        live = live_statements(store, settings, corrected)
        booked = booked_corrections(corrected, documents)
        for team, lines in corrections(corrected, live, documents[corrected], booked).items():
            result[team].extend(lines)
    return dict(result)


def booked_corrections(corrected: str, documents: dict[str, Statements]) -> list[tuple[str, Line]]:
    """Adjustment lines for ``corrected`` already stored on later closed months, with their team."""
    return [
        (team.team, line)
        for statements in documents.values()
        for team in statements.teams
        for line in team.adjustments
        if line.corrects_period == corrected
    ]


def corrections(
    corrected: str, live: Statements, stored: Statements, booked: list[tuple[str, Line]]
) -> dict[str, list[Line]]:
    """Per team and line: live − stored − booked. Lines that net to zero money are dropped."""
    if live.currency != stored.currency:
        raise ConfigError(
            f"{corrected} was closed in {stored.currency} but the reporting currency is now"
            f" {live.currency}; set [reporting] currency = {stored.currency!r} to correct it"
        )
    sums: dict[_Key, list[Any]] = defaultdict(lambda: [Decimal(0), 0.0])
    with decimal.localcontext(MONEY_CONTEXT):
        for sign, pairs in (
            (1, [(t.team, line) for t in live.teams for line in t.lines]),
            (-1, [(t.team, line) for t in stored.teams for line in t.lines]),
            (-1, booked),
        ):
            for team, line in pairs:
                entry = sums[(team, line.model, line.gpu_model, line.cost_type)]
                entry[0] += sign * line.cost
                entry[1] += sign * line.gpu_hours
    result: dict[str, list[Line]] = defaultdict(list)
    for (team, model, gpu_model, cost_type), (cost, hours) in sorted(
        sums.items(), key=lambda kv: str(kv[0])
    ):
        if cost != 0:
            line = Line(model, gpu_model, cost_type, round(hours, 3), cost, None, corrected)
            result[team].append(line)
    return dict(result)


def pending_adjustments(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Per closed month and team: the correction that will land on the next open month.

    For ``gpuledger status``. A closed month whose current data cannot be built (attribution
    not re-run after a restatement, say) is listed with the reason instead of an amount.
    """
    documents = closed_documents(store.state)
    rows: list[dict[str, Any]] = []
    for corrected in sorted(documents):
        lands_in = next_open_period(corrected, set(documents))
        try:
            live = live_statements(store, settings, corrected)
            booked = booked_corrections(corrected, documents)
            found = corrections(corrected, live, documents[corrected], booked)
        except GpuledgerError as exc:
            rows.append({"corrects_period": corrected, "lands_in": lands_in, "error": str(exc)})
            continue
        for team, lines in sorted(found.items()):
            amount = sum((line.cost for line in lines), Decimal(0))
            rows.append(
                {
                    "corrects_period": corrected,
                    "lands_in": lands_in,
                    "team": team,
                    "amount": str(amount),
                    "currency": live.currency,
                }
            )
    return rows
