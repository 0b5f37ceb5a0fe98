"""`gpuledger waste`: idle and underused GPU time per team, model, workload and instance, priced."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl
from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.engine.waste.compute import Waste, compute_waste, waste_totals
from gpuledger.engine.waste.unit_cost import Unit, compute_unit_costs

DEFINITION = (
    "waste_cost = (idle GPU-hours + unused-capacity GPU-hours) x the instance's price per GPU-hour."
    " Idle: no workload or SM activity under thresholds.waste.idle_sm_util. Unused capacity: on"
    " busy hours under thresholds.waste.underused_sm_util, the share neither computing nor holding"
    " memory, 1 - max(SM/100, memory used/total). Price per GPU-hour: the instance's bill / billed"
    " hours / GPU count."
)
TABLE_ROWS = 25


def run(ctx: Context, *, period: str, team: str | None, format: str) -> None:
    waste = compute_waste(ctx.store, ctx.settings, period, team)
    units = compute_unit_costs(ctx.store, ctx.settings, period, waste if team is None else None)
    if team is not None:
        units = units.filter(pl.col(Unit.team) == team)
    if format == "json":
        print(json.dumps(as_json(waste, units, period, ctx.settings.reporting.currency), indent=2))
        return
    print_tables(Console(), waste, units, period)


def _plain(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else value


def as_json(
    waste: pl.DataFrame, units: pl.DataFrame, period: str, currency: str
) -> dict[str, object]:
    """The JSON document: totals, the definition, one object per row, unit costs."""
    totals = {key: _plain(value) for key, value in waste_totals(waste).items()}
    return {
        "period": period,
        "currency": currency,
        "definition": DEFINITION,
        "totals": totals,
        "rows": [{k: _plain(v) for k, v in row.items()} for row in waste.to_dicts()],
        "unit_costs": [{k: _plain(v) for k, v in row.items()} for row in units.to_dicts()],
    }


def print_tables(console: Console, waste: pl.DataFrame, units: pl.DataFrame, period: str) -> None:
    totals = waste_totals(waste)
    console.print(
        f"GPU waste {period}: {totals['waste_cost']:,} of {totals['cost']:,} priced GPU time"
        f" ({totals['idle_gpu_hours']:,} of {totals['gpu_hours']:,} GPU-hours idle)",
        highlight=False,
    )
    table = Table(title=f"Largest waste (top {TABLE_ROWS})", title_justify="left")
    columns = {
        Waste.team: "team",
        Waste.model: "model",
        Waste.workload: "workload",
        Waste.ResourceId: "instance",
        Waste.gpu_hours: "GPU-h",
        Waste.idle_gpu_hours: "idle GPU-h",
        Waste.used_gpu_hours: "SM-weighted GPU-h",
        Waste.mem_peak_gib: "mem peak GiB",
        Waste.mem_p95_gib: "mem p95 GiB",
        Waste.mem_capacity_gib: "GiB/GPU",
        Waste.waste_cost: "waste $",
    }
    for title in columns.values():
        table.add_column(
            title, justify="left" if title in ("team", "model", "workload", "instance") else "right"
        )
    for row in waste.head(TABLE_ROWS).to_dicts():
        table.add_row(*(_cell(row[key]) for key in columns))
    console.print(table)
    if not units.is_empty():
        unit_table = Table(title="Cost per million tokens", title_justify="left")
        for title in ("team", "model", "input", "output", "blended", "GPU cost"):
            unit_table.add_column(title)
        for row in units.to_dicts():
            unit_table.add_row(
                row[Unit.team],
                row[Unit.model],
                str(row[Unit.per_million_input]),
                str(row[Unit.per_million_output]),
                str(row[Unit.per_million_tokens]),
                f"{row[Unit.gpu_cost]:,}",
            )
        console.print(unit_table)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, Decimal):
        return f"{value:,}"
    return str(value)
