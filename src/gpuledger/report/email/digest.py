"""What an e-mail says, as plain data: read from the allocation table and the engine's results.

Outputs never recompute what the engine computes (DESIGN: data moves one way): spend comes from
``allocation``, waste from :func:`gpuledger.engine.waste.compute.compute_waste`, recommendations from
:func:`gpuledger.engine.recommend.pipeline.current_recommendations`. This module only selects, orders and
sums what the message shows, so the templates hold no logic beyond layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.chargeback.rounding import round_money
from gpuledger.errors import UsageError
from gpuledger.period import Period
from gpuledger.schema import IDLE_MODEL, Alloc, Rec
from gpuledger.store.delta import Store

CENT = Decimal("0.01")
FINANCE = "(finance)"  # the send-log team of the chargeback notice; never a configured team
STATUS_ORDER = ("new", "acknowledged")  # dismissed ones are never mailed, done ones need no action


@dataclass(frozen=True)
class DailySpend:
    day: date
    busy: Decimal  # everything but idle GPU time
    idle: Decimal


@dataclass(frozen=True)
class RecommendationLine:
    id: str
    kind: str
    status: str
    model: str | None
    action: str
    confidence: str
    monthly_saving: Decimal
    evidence: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TeamDigest:
    """One team lead's savings e-mail, as data."""

    team: str
    period: str
    currency: str
    spend: Decimal | None  # None: no statement for the period yet (its billing data is missing)
    previous_spend: Decimal | None
    waste: Decimal
    daily: tuple[DailySpend, ...]
    recommendations: tuple[RecommendationLine, ...]
    hidden_recommendations: int  # open ones beyond the top N, counted so the mail says so
    open_saving: Decimal  # all the team's open recommendations, each instance counted once
    app_url: str

    @property
    def has_data(self) -> bool:
        return self.spend is not None

    @property
    def change(self) -> Decimal | None:
        if self.spend is None or self.previous_spend is None:
            return None
        return self.spend - self.previous_spend

    @property
    def change_percent(self) -> Decimal | None:
        if self.spend is None or not self.previous_spend:
            return None
        return ((self.spend - self.previous_spend) * 100 / self.previous_spend).quantize(
            Decimal("0.1")
        )


@dataclass(frozen=True)
class TeamCharge:
    team: str
    total: Decimal  # the month's own cost
    adjustments: Decimal  # corrections of closed months, charged with this one
    amount_due: Decimal


@dataclass(frozen=True)
class FinanceDigest:
    """Finance's monthly chargeback notice, as data; ``xlsx`` is the statement workbook."""

    period: str
    currency: str
    invoice_total: Decimal
    adjustment_total: Decimal
    teams: tuple[TeamCharge, ...]  # (unallocated) included, last
    xlsx: bytes
    app_url: str
    final: bool  # the invoice is final; a --dry-run preview may show provisional figures


def spend_by_team(store: Store, settings: Settings, period: str) -> dict[str, Decimal] | None:
    """Each team's statement total for the period: the very figure its chargeback shows.

    Read from the statements rather than summed here, so that rounding (largest remainder, to the
    cent) and currency conversion match the chargeback exactly. A month without statements (no
    billing data yet, or not attributed yet) is None, never zero spend; a month whose allocation
    does not reconcile raises, and no mail goes out with it.
    """
    from gpuledger.engine.chargeback.build import build_statements

    try:
        statements = build_statements(store, settings, period)
    except UsageError:
        return None
    return {team.team: team.total for team in statements.teams}


def daily_spend(store: Store, settings: Settings, period: str, team: str) -> tuple[DailySpend, ...]:
    """The team's cost per day of the period, idle GPU time apart: the chart's bars."""
    from gpuledger.engine.chargeback.live import fx_rates

    frame = (
        store.scan("allocation")
        .filter((pl.col(Alloc.x_BillingPeriod) == period) & (pl.col(Alloc.team) == team))
        .filter(pl.col(Alloc.day).is_not_null())
        .group_by(Alloc.day, Alloc.currency, (pl.col(Alloc.cost_type) == "idle").alias("idle"))
        .agg(pl.col(Alloc.cost).sum())
        .collect()
    )
    rates = fx_rates(settings, period, set(frame.get_column(Alloc.currency).to_list()))
    days: dict[date, dict[bool, Decimal]] = {}
    for row in frame.to_dicts():
        amount = Decimal(row[Alloc.cost]) * rates[row[Alloc.currency]]
        split = days.setdefault(row[Alloc.day], {True: Decimal(0), False: Decimal(0)})
        split[row["idle"]] += amount
    currency = settings.reporting.currency
    return tuple(
        DailySpend(d, round_money(split[False], currency), round_money(split[True], currency))
        for d, split in sorted(days.items())
    )


def mailable_recommendations(frame: pl.DataFrame, team: str) -> list[RecommendationLine]:
    """The team's open recommendations: new ones first, then acknowledged, each by saving.

    Dismissed ones are never mailed (the lead said no, with a reason); done ones need no action.
    """
    rows = frame.filter(
        (pl.col(Rec.team) == team) & pl.col("status").is_in(list(STATUS_ORDER))
    ).to_dicts()
    rows.sort(key=lambda r: (STATUS_ORDER.index(r["status"]), -r[Rec.monthly_saving], r[Rec.id]))
    return [
        RecommendationLine(
            id=row[Rec.id],
            kind=row[Rec.kind],
            status=row["status"],
            model=None if row[Rec.model] in (None, IDLE_MODEL) else row[Rec.model],
            action=row[Rec.action],
            confidence=row[Rec.confidence],
            monthly_saving=_cents(row[Rec.monthly_saving]),
            evidence=_evidence(row[Rec.evidence]),
        )
        for row in rows
    ]


HIDDEN_EVIDENCE = frozenset({"fingerprint"})  # bookkeeping, not evidence a lead can weigh


def _evidence(text: str | None, limit: int = 4) -> tuple[tuple[str, str], ...]:
    """The first few evidence facts as (label, value) pairs, whatever JSON the engine wrote.

    Only facts that read well in one line are kept: numbers, words and short lists; nested
    objects stay in the app, where there is room for them.
    """
    if not text:
        return ()
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        return (("evidence", text),)
    if not isinstance(data, dict):
        return (("evidence", str(data)),)
    pairs = [
        (str(key).replace("_", " "), _fact(value))
        for key, value in data.items()
        if key not in HIDDEN_EVIDENCE and not isinstance(value, dict)
    ]
    return tuple(pairs[:limit])


def _fact(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:3]) + (" …" if len(value) > 3 else "")
    return str(value)


def app_link(settings: Settings, page: str, **query: str) -> str:
    return f"{settings.app.base_url.rstrip('/')}/{page}?{urlencode(query)}"


def team_digests(
    store: Store, settings: Settings, period: str, teams: list[str]
) -> list[TeamDigest]:
    """Each listed team's savings e-mail content for ``period``."""
    from gpuledger.engine.recommend.pipeline import current_recommendations, non_overlapping_saving

    spend = spend_by_team(store, settings, period)
    before = spend_by_team(store, settings, str(Period.parse(period).previous())) or {}
    recommendations = current_recommendations(store, settings, period)
    top = settings.email.top_recommendations
    digests = []
    for team in teams:
        lines = mailable_recommendations(recommendations, team)
        digests.append(
            TeamDigest(
                team=team,
                period=period,
                currency=settings.reporting.currency,
                spend=None if spend is None else spend.get(team, Decimal("0.00")),
                previous_spend=before.get(team),
                waste=waste_dollars(store, settings, period, team),
                daily=daily_spend(store, settings, period, team),
                recommendations=tuple(lines[:top]),
                hidden_recommendations=max(0, len(lines) - top),
                open_saving=non_overlapping_saving(
                    recommendations.filter(pl.col(Rec.team) == team)
                ),
                app_url=app_link(settings, "recommendations", team=team, period=period),
            )
        )
    return digests


def waste_dollars(store: Store, settings: Settings, period: str, team: str) -> Decimal:
    """The team's priced GPU waste for the period, as the waste engine computes it."""
    from gpuledger.engine.waste.compute import Waste, compute_waste

    frame = compute_waste(store, settings, period, team=team)
    return _cents(frame.get_column(Waste.waste_cost).sum()) if frame.height else Decimal("0.00")


def finance_digest(
    store: Store, settings: Settings, period: str, *, final: bool = True
) -> FinanceDigest:
    """The chargeback notice: the statements' team totals and their workbook, as finance sees them."""
    from gpuledger.engine.chargeback.build import build_statements
    from gpuledger.report.export.render import render

    statements = build_statements(store, settings, period)
    return FinanceDigest(
        period=period,
        currency=statements.currency,
        invoice_total=statements.invoice_total,
        adjustment_total=statements.adjustment_total,
        teams=tuple(
            TeamCharge(t.team, t.total, t.adjustment_total, t.amount_due) for t in statements.teams
        ),
        xlsx=render(statements, "xlsx"),
        app_url=app_link(settings, "chargeback", period=period),
        final=final,
    )


def _cents(value: object) -> Decimal:
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(CENT)
