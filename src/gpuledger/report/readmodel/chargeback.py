"""Read model of the chargeback page: the engine's statements, cut to what the viewer may see.

Everything here is read from :func:`gpuledger.engine.chargeback.build.build_statements` (and, for the
instance drill-down, the ``allocation`` rows at the very table version those statements were
built from); the only arithmetic is sums and differences of the engine's own rounded amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.explain import Explanation, explain
from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.live import last_usage_days
from gpuledger.engine.chargeback.statements import Line, Statements, TeamStatement
from gpuledger.period import Period
from gpuledger.report.export.render import render
from gpuledger.report.readmodel.access import Viewer
from gpuledger.schema import MONEY, UNALLOCATED, UNLABELLED, Alloc, make_schema
from gpuledger.store.delta import Store

MONEY2 = pl.Decimal(38, 2)
DOWNLOADS = {"csv": "csv", "xlsx": "xlsx", "focus": "parquet"}


class Col:
    """Column names of the frames this module hands to the pages."""

    team = "team"
    model = "model"
    gpu_model = "gpu_model"
    cost_type = "cost_type"
    gpu_hours = "gpu_hours"
    cost = "cost"
    previous = "previous"
    total = "total"
    previous_total = "previous_total"
    delta = "delta"
    budget = "budget"
    variance = "variance"
    forecast = "forecast"
    forecast_variance = "forecast_variance"
    adjustments = "adjustments"
    amount_due = "amount_due"
    corrects_period = "corrects_period"
    resource = "ResourceId"
    currency = "currency"
    line_id = "line_id"


@dataclass(frozen=True)
class PeriodInfo:
    """A month the ledger holds: closed or not, invoiced or not, and whether its data is complete."""

    period: str
    closed: bool
    closed_at: str | None = None
    complete: bool = False  # its usage data reaches the month's last day: nothing to forecast
    invoiced: bool = False  # every billing account of the month carries the provider's invoice

    @property
    def status(self) -> str:
        """The month in one word, most settled first.

        ``closed``: its statements are frozen; ``invoiced``: every account's invoice is final, so
        its costs no longer change; ``final``: its usage data reaches the month's end, nothing
        left to forecast; ``provisional``: anything else (costs still arrive, totals are forecast).
        """
        if self.closed:
            return "closed"
        if self.invoiced:
            return "invoiced"
        return "final" if self.complete else "provisional"

    @property
    def label(self) -> str:
        if self.closed:
            return f"{self.period} · closed {(self.closed_at or '')[:10]}".rstrip()
        return f"{self.period} · {self.status}"


@dataclass(frozen=True)
class ChargebackView:
    """One month's statements as the viewer may see them.

    ``invoice_total`` and ``allocated_total`` are None for a team lead: with them and their own
    total a lead could work out what the other teams together pay. ``unallocated_total`` is the
    pool no team pays, so everyone sees it.
    """

    period: str
    currency: str
    cost_basis: str
    mode: str
    closed: bool
    closed_at: str | None
    invoice_total: Decimal | None
    allocated_total: Decimal | None
    unallocated_total: Decimal
    days_with_data: int | None
    days_in_period: int | None
    complete: bool  # closed, or its usage data reaches the month's end: "final", no forecast
    teams: pl.DataFrame  # one row per team: totals, month-over-month, budget, forecast
    lines: pl.DataFrame  # team × model × GPU model × cost type
    adjustments: pl.DataFrame  # corrections of closed months, per team

    def team_names(self) -> list[str]:
        return list(self.teams[Col.team])

    @property
    def unallocated_share(self) -> float | None:
        """Share of the invoice no team pays (finance only: it needs the invoice total)."""
        if not self.invoice_total:
            return None
        return float(self.unallocated_total / self.invoice_total)

    @property
    def teams_amount_due(self) -> Decimal:
        """What the viewer's own teams are charged in all (their totals plus adjustments)."""
        own = self.teams.filter(pl.col(Col.team) != UNALLOCATED)[Col.amount_due]
        return sum(own.to_list(), Decimal(0))


def periods(store: Store) -> list[PeriodInfo]:
    """Every month with billing data, allocation or a close, newest first, with its status.

    Billing months come from the ingest record in the state database rather than a scan of
    ``cost``, which is the largest table; ``allocation`` is small and read by its partition key.
    """
    accounts = store.state.billing_periods()
    billed = {row["period"] for row in accounts}
    invoiced = billed - {row["period"] for row in accounts if not row["invoiced"]}
    found = set(billed)
    last_days = last_usage_days(store.scan("allocation"))
    found.update(last_days)
    closed = store.state.closed_periods()
    found.update(closed)
    return [
        PeriodInfo(
            p,
            p in closed,
            closed[p]["closed_at"] if p in closed else None,
            complete=_reaches_month_end(p, last_days.get(p)),
            invoiced=p in invoiced,
        )
        for p in sorted(found, reverse=True)
    ]


def _reaches_month_end(period: str, last: date | None) -> bool:
    month = Period.parse(period)
    return last is not None and Period.of(last) == month and last.day == month.days


def _team_row(team: TeamStatement) -> dict[str, object]:
    delta = None if team.previous_total is None else team.total - team.previous_total
    return {
        Col.team: team.team,
        Col.total: team.total,
        Col.previous_total: team.previous_total,
        Col.delta: delta,
        Col.budget: team.budget,
        Col.variance: team.variance,
        Col.forecast: team.forecast,
        Col.forecast_variance: team.forecast_variance,
        Col.adjustments: team.adjustment_total,
        Col.amount_due: team.amount_due,
    }


def _line_row(period: str, team: str, line: Line) -> dict[str, object]:
    return {
        Col.line_id: line_id(period, team, line),
        Col.team: team,
        Col.model: line.model,
        Col.gpu_model: line.gpu_model,
        Col.cost_type: line.cost_type,
        Col.gpu_hours: line.gpu_hours,
        Col.cost: line.cost,
        Col.previous: line.previous,
        Col.corrects_period: line.corrects_period,
    }


_TEAM_SCHEMA = make_schema(
    {
        Col.team: pl.String,
        **dict.fromkeys(
            (
                Col.total,
                Col.previous_total,
                Col.delta,
                Col.budget,
                Col.variance,
                Col.forecast,
                Col.forecast_variance,
                Col.adjustments,
                Col.amount_due,
            ),
            MONEY2,
        ),
    }
)
_LINE_SCHEMA = make_schema(
    {
        Col.line_id: pl.String,
        Col.team: pl.String,
        Col.model: pl.String,
        Col.gpu_model: pl.String,
        Col.cost_type: pl.String,
        Col.gpu_hours: pl.Float64,
        Col.cost: MONEY2,
        Col.previous: MONEY2,
        Col.corrects_period: pl.String,
    }
)


def visible_statements(statements: Statements, viewer: Viewer) -> tuple[TeamStatement, ...]:
    """The team statements the viewer may see; ``(unallocated)`` is every viewer's to see."""
    return tuple(t for t in statements.teams if viewer.sees(t.team) or t.team == UNALLOCATED)


def chargeback_view(statements: Statements, viewer: Viewer) -> ChargebackView:
    """The chargeback page's data: the month's statements cut to the viewer's teams."""
    teams = visible_statements(statements, viewer)
    period = statements.period
    lines = [_line_row(period, t.team, line) for t in teams for line in t.lines]
    adjustments = [_line_row(period, t.team, line) for t in teams for line in t.adjustments]
    return ChargebackView(
        period=statements.period,
        currency=statements.currency,
        cost_basis=statements.cost_basis,
        mode=statements.mode,
        closed=statements.closed,
        closed_at=statements.closed_at,
        invoice_total=statements.invoice_total if viewer.finance else None,
        allocated_total=statements.allocated_total if viewer.finance else None,
        unallocated_total=statements.unallocated_total,
        days_with_data=statements.days_with_data,
        days_in_period=statements.days_in_period,
        complete=statements.complete,
        teams=pl.DataFrame([_team_row(t) for t in teams], schema=_TEAM_SCHEMA),
        lines=pl.DataFrame(lines, schema=_LINE_SCHEMA),
        adjustments=pl.DataFrame(adjustments, schema=_LINE_SCHEMA),
    )


def statements_of(store: Store, settings: Settings, period: str) -> Statements:
    """The engine's statements of ``period``, without the lazy FOCUS rows (they do not cache)."""
    return replace(build_statements(store, settings, period), focus_rows=None)


def require_instances(viewer: Viewer, team: str) -> None:
    """Whose instances a viewer may open: their own teams', and ``(unallocated)``."""
    if team != UNALLOCATED:
        viewer.require_team(team)


def instance_costs(statements: Statements, store: Store, team: str) -> pl.DataFrame:
    """The team's allocated cost per model × GPU model × instance: the last drill-down level.

    Read from ``allocation`` at the version the month's statements were built from (pinned at
    close for a closed month), in the billing currency and unrounded, as attribution wrote it.
    """
    return (
        store.scan("allocation", statements.table_versions.get("allocation"))
        .filter((pl.col(Alloc.x_BillingPeriod) == statements.period) & (pl.col(Alloc.team) == team))
        .group_by(
            pl.col(Alloc.model).fill_null(UNLABELLED).alias(Col.model),
            pl.col(Alloc.x_GpuModel).alias(Col.gpu_model),
            pl.col(Alloc.ResourceId).alias(Col.resource),
            pl.col(Alloc.currency).alias(Col.currency),
        )
        .agg(
            pl.col(Alloc.gpu_hours).sum().alias(Col.gpu_hours),
            pl.col(Alloc.cost).sum().alias(Col.cost),
        )
        .sort(Col.cost, Col.resource, descending=[True, False])
        .collect()
    )


def line_explanation(
    store: Store, settings: Settings, period: str, viewer: Viewer, team: str, line: str
) -> Explanation:
    """Why the team's line ``line`` (number or id) is what it is: ``gpuledger explain``'s answer.

    The viewer may explain the lines of the teams whose instances they may open (raises
    AccessDenied otherwise), and is checked before anything is read.
    """
    require_instances(viewer, team)
    return explain(store, statements_of(store, settings, period), team, line=line)[0]


class Src:
    """Column names of :func:`explanation_sources`."""

    source = "source"
    day = "day"
    provider = "provider"
    account = "account"
    resource = "ResourceId"
    service = "service"
    charge = "charge"
    rule = "rule"
    original = "original"
    billing_currency = "billing_currency"
    share = "share"
    cost = "cost"


def explanation_rules(explanation: Explanation) -> pl.DataFrame:
    """The line's cost per rule; the rows add up to the line's cost exactly."""
    return pl.DataFrame(
        [
            {Src.rule: r.rule, Col.cost: r.cost, Col.gpu_hours: r.gpu_hours}
            for r in explanation.rules
        ],
        schema=make_schema({Src.rule: pl.String, Col.cost: MONEY2, Col.gpu_hours: pl.Float64}),
    )


_SOURCE_SCHEMA = make_schema(
    {
        Src.source: pl.String,
        Src.day: pl.Date,
        Src.provider: pl.String,
        Src.account: pl.String,
        Src.resource: pl.String,
        Src.service: pl.String,
        Src.charge: pl.String,
        Src.rule: pl.String,
        Src.original: MONEY,
        Src.billing_currency: pl.String,
        Src.share: pl.Float64,
        Src.cost: MONEY2,
    }
)


def explanation_sources(explanation: Explanation) -> pl.DataFrame:
    """The line's top sources, ranked, and one "other N sources" row: the costs add up to the
    line's cost exactly."""
    rows: list[dict[str, object]] = [
        {
            Src.source: str(rank),
            Src.day: s.day,
            Src.provider: s.provider,
            Src.account: s.sub_account or s.account,
            Src.resource: s.resource_id,
            Src.service: s.service,
            Src.charge: s.charge_category,
            Src.rule: s.rule,
            Src.original: s.original,
            Src.billing_currency: s.currency,
            Src.share: s.share,
            Src.cost: s.cost,
        }
        for rank, s in enumerate(explanation.sources, start=1)
    ]
    if explanation.other_sources:
        rows.append(
            {
                Src.source: f"other {explanation.other_sources} sources",
                Src.cost: explanation.other_cost,
            }
        )
    return pl.DataFrame(rows, schema=_SOURCE_SCHEMA)


def download(store: Store, settings: Settings, period: str, fmt: str) -> bytes:
    """The month's statements as ``gpuledger chargeback --format fmt`` writes them: same bytes.

    Exports hold every team: the read model lets only finance ask for them.
    """
    return render(build_statements(store, settings, period), fmt)


def drill(lines: pl.DataFrame, team: str, model: str | None = None) -> pl.DataFrame:
    """A team's statement lines summed by model, or one model's lines by GPU model × cost type.

    Sums of rounded statement lines, so each level adds up exactly to the level above it.
    """
    rows = lines.filter(pl.col(Col.team) == team)
    keys = [Col.model] if model is None else [Col.gpu_model, Col.cost_type]
    if model is not None:
        rows = rows.filter(pl.col(Col.model) == model)
    return (
        rows.group_by(keys)
        .agg(pl.col(Col.gpu_hours).sum(), pl.col(Col.cost).sum(), pl.col(Col.previous).sum())
        .sort(Col.cost, *keys, descending=[True, *[False] * len(keys)], nulls_last=True)
    )
