"""Read model of the chargeback page's views: the month grouped any way, and the cost trend.

**Group-by.** The month's ``allocation`` rows (at the table version its statements were built
from, pinned for a closed month) summed per team × group × billing currency, converted at the
statements' exchange rates, and rounded within each team by largest remainder to that team's
statement total. So every group's amount is exact to the cent, grouping by team gives the
statements' team totals, and the groups of any set of teams add up to those teams' statements.

**Trend.** Each month's statement totals per team (or summed statement lines per model), and,
within the month, the same rounding per team over the days of ``allocation``.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from decimal import Decimal

import polars as pl

from gpuledger.columns import UNALLOCATED, UNLABELLED, Alloc
from gpuledger.engine.chargeback.rounding import MONEY_CONTEXT, largest_remainder, minor_unit
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.chargeback import MONEY2, visible_statements
from gpuledger.schema import make_schema
from gpuledger.store.delta import Store

GROUP = "group"
PERIOD = "period"
DAY = "day"
COST = "cost"
GPU_HOURS = "gpu_hours"
TEAM = "team"
MISSING_GROUP = "—"
# Group-by choices: URL value → (label, the allocation column or expression naming the group).
GROUPINGS: dict[str, tuple[str, pl.Expr]] = {
    "team": ("Team", pl.col(Alloc.team)),
    "model": ("Model", pl.col(Alloc.model).fill_null(UNLABELLED)),
    "workload": ("Workload (tag)", pl.col(Alloc.workload)),
    "gpu_model": ("GPU model", pl.col(Alloc.x_GpuModel)),
    "account": ("Account / project", pl.coalesce(Alloc.SubAccountId, Alloc.BillingAccountId)),
    "service": ("Service", pl.col(Alloc.ServiceName)),
    "instance": ("Instance", pl.col(Alloc.ResourceId)),
}
TREND_BY = ("team", "model")


def allocation_by(store: Store, statements: Statements, groups: dict[str, pl.Expr]) -> pl.DataFrame:
    """The month's allocation per team × ``groups`` × currency: GPU-hours and unrounded cost.

    ``groups`` names the group columns and the expressions over ``allocation`` that give them;
    a missing value reads "—".
    """
    version = statements.table_versions.get("allocation")
    named = [expr.cast(pl.String).fill_null(MISSING_GROUP).alias(n) for n, expr in groups.items()]
    return (
        store.scan("allocation", version)
        .filter(pl.col(Alloc.x_BillingPeriod) == statements.period)
        .group_by(pl.col(Alloc.team).alias(TEAM), *named, Alloc.currency)
        .agg(pl.col(Alloc.gpu_hours).sum().alias(GPU_HOURS), pl.col(Alloc.cost).sum().alias(COST))
        .collect()
    )


def rounded_by_team(grouped: pl.DataFrame, statements: Statements) -> pl.DataFrame:
    """``grouped`` (:func:`allocation_by`) in the reporting currency, one row per team × groups.

    Each team's rows are rounded by largest remainder to its statement total (rule at
    :func:`~gpuledger.engine.chargeback.rounding.largest_remainder`), so they add up to it exactly.
    """
    keys = [name for name in grouped.columns if name not in (Alloc.currency, GPU_HOURS, COST)]
    rates = {code: Decimal(rate) for code, rate in statements.fx_rates.items()}
    merged: dict[tuple[str, ...], list[Decimal | float]] = defaultdict(lambda: [Decimal(0), 0.0])
    with decimal.localcontext(MONEY_CONTEXT):
        for row in grouped.to_dicts():
            key = tuple(row[name] for name in keys)
            amount = (row[COST] or Decimal(0)) * rates.get(row[Alloc.currency], Decimal(1))
            merged[key][0] = Decimal(merged[key][0]) + amount
            merged[key][1] = float(merged[key][1]) + (row[GPU_HOURS] or 0.0)
    totals = {team.team: team.total for team in statements.teams}
    unit = minor_unit(statements.currency)
    rows: list[dict[str, object]] = []
    for team in sorted({key[0] for key in merged}):
        team_keys = sorted(key for key in merged if key[0] == team)
        amounts = [Decimal(merged[key][0]) for key in team_keys]
        target = totals.get(team, sum(amounts, Decimal(0)).quantize(unit))
        for key, cost in zip(team_keys, largest_remainder(amounts, target, unit), strict=True):
            rows.append(
                {**dict(zip(keys, key, strict=True)), GPU_HOURS: merged[key][1], COST: cost}
            )
    schema = dict.fromkeys(keys, pl.String) | {GPU_HOURS: pl.Float64, COST: MONEY2}
    return pl.DataFrame(rows, schema=make_schema(schema))


def visible(rounded: pl.DataFrame, viewer: Viewer) -> pl.DataFrame:
    """The rows of the viewer's teams and of the unallocated pool (every viewer's to see)."""
    teams = [team for team in rounded[TEAM].unique().to_list() if viewer.sees(team)]
    return rounded.filter(pl.col(TEAM).is_in([*teams, UNALLOCATED]))


def by_group(rounded: pl.DataFrame, viewer: Viewer) -> pl.DataFrame:
    """The viewer's rows of :func:`rounded_by_team` summed per group, largest first."""
    return (
        visible(rounded, viewer)
        .group_by(GROUP)
        .agg(pl.col(GPU_HOURS).sum(), pl.col(COST).sum())
        .sort(COST, GROUP, descending=[True, False])
    )


def daily(store: Store, statements: Statements) -> pl.DataFrame:
    """The month's cost per team × model × day, rounded per team to its statement total."""
    groups = {DAY: pl.col(Alloc.day), GROUP: GROUPINGS["model"][1]}
    return rounded_by_team(allocation_by(store, statements, groups), statements)


def daily_view(rounded: pl.DataFrame, viewer: Viewer, by: str) -> pl.DataFrame:
    """The viewer's daily cost (:func:`daily`) per day × team or day × model."""
    key = TEAM if by == "team" else GROUP
    return (
        visible(rounded, viewer)
        .group_by(DAY, pl.col(key).alias(GROUP))
        .agg(pl.col(COST).sum())
        .sort(DAY, GROUP)
    )


def monthly(statements: Statements, viewer: Viewer, by: str) -> pl.DataFrame:
    """One month's visible statement totals per team, or per model (summed statement lines)."""
    teams = visible_statements(statements, viewer)
    if by == "team":
        rows = [{GROUP: team.team, COST: team.total} for team in teams]
    else:
        per_model: dict[str, Decimal] = defaultdict(Decimal)
        for team in teams:
            for line in team.lines:
                per_model[line.model or UNLABELLED] += line.cost
        rows = [{GROUP: model, COST: cost} for model, cost in per_model.items()]
    frame = pl.DataFrame(rows, schema=make_schema({GROUP: pl.String, COST: MONEY2}))
    return frame.select(pl.lit(statements.period).alias(PERIOD), GROUP, COST)


def monthly_schema() -> pl.DataFrame:
    """An empty :func:`monthly` frame."""
    return pl.DataFrame(schema=make_schema({PERIOD: pl.String, GROUP: pl.String, COST: MONEY2}))
