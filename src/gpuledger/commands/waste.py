"""`gpuledger waste`: idle and underused GPU time per team, model, workload and instance, priced."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from rich.console import Console

from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, require_out, terminal
from gpuledger.commands.period_choice import chosen_period, require_billing_data
from gpuledger.engine.waste.compute import Waste, compute_waste, waste_totals
from gpuledger.engine.waste.unit_cost import Unit, compute_unit_costs
from gpuledger.report.export.json_rule import json_bytes, plain_row
from gpuledger.report.export.tabular import Column, Tabular, cell_text, tabular_csv
from gpuledger.report.export.tabular_xlsx import tabular_xlsx
from gpuledger.report.export.terminal import terminal_table

DEFINITION = (
    "waste_cost = (idle GPU-hours + unused-capacity GPU-hours) x the instance's price per GPU-hour."
    " Idle: no workload or SM activity under thresholds.waste.idle_sm_util. Unused capacity: on"
    " busy hours under thresholds.waste.underused_sm_util, the share neither computing nor holding"
    " memory, 1 - max(SM/100, memory used/total). Price per GPU-hour: the instance's bill / billed"
    " hours / GPU count."
)
TABLE_ROWS = 25
PRICES = frozenset({Waste.gpu_hour_price, Unit.per_million_input, Unit.per_million_output,
                    Unit.per_million_tokens})  # fmt: skip

# Every column of the waste frame; a terminal shows TERMINAL_KEYS, dropping the highest ``drop``
# first when narrow. Files (csv, xlsx) carry them all.
WASTE_COLUMNS = (
    Column(Waste.team, "team"),
    Column(Waste.model, "model", drop=3),
    Column(Waste.workload, "workload", drop=5),
    Column(Waste.ResourceId, "instance", drop=6),
    Column(Waste.gpu_model, "GPU model", drop=4),
    Column(Waste.gpu_hours, "GPU-h", "quantity", drop=2),
    Column(Waste.idle_gpu_hours, "idle GPU-h", "quantity", drop=1),
    Column(Waste.used_gpu_hours, "SM-weighted GPU-h", "quantity", drop=7),
    Column(Waste.unused_gpu_hours, "unused GPU-h", "quantity", drop=7),
    Column(Waste.mem_peak_gib, "mem peak GiB", "quantity", drop=8),
    Column(Waste.mem_p95_gib, "mem p95 GiB", "quantity", drop=8),
    Column(Waste.mem_capacity_gib, "GiB/GPU", "quantity", drop=9),
    Column(Waste.gpu_hour_price, "price/GPU-h", "price", drop=9),
    Column(Waste.cost, "priced GPU time", "money", drop=9),
    Column(Waste.idle_cost, "idle", "money", drop=9),
    Column(Waste.unused_cost, "unused", "money", drop=9),
    Column(Waste.waste_cost, "waste", "money"),
    Column(Waste.currency, "currency", drop=9),
)
TERMINAL_KEYS = (
    Waste.team,
    Waste.model,
    Waste.workload,
    Waste.ResourceId,
    Waste.gpu_hours,
    Waste.idle_gpu_hours,
    Waste.used_gpu_hours,
    Waste.mem_peak_gib,
    Waste.mem_p95_gib,
    Waste.mem_capacity_gib,
    Waste.waste_cost,
)
UNIT_COLUMNS = (
    Column(Unit.team, "team"),
    Column(Unit.model, "model"),
    Column(Unit.input_tokens, "input tokens", "count", drop=3),
    Column(Unit.output_tokens, "output tokens", "count", drop=3),
    Column(Unit.per_million_input, "input/M", "price", drop=2),
    Column(Unit.per_million_output, "output/M", "price", drop=2),
    Column(Unit.per_million_tokens, "blended/M", "price"),
    Column(Unit.gpu_cost, "GPU cost", "money", drop=1),
)


def run(
    ctx: Context, *, period: str | None, team: str | None, format: str, out: Path | None = None
) -> None:
    require_out(format, out)
    store = ctx.read_store
    period = chosen_period(store, period)
    require_billing_data(store, period)
    currency = ctx.settings.reporting.currency
    waste = compute_waste(store, ctx.settings, period, team)
    units = compute_unit_costs(store, ctx.settings, period, waste if team is None else None)
    if team is not None:
        units = units.filter(pl.col(Unit.team) == team)
    if format == "table":
        print_tables(terminal(), waste, units, period, currency)
    elif format == "json":
        emit(json_bytes(as_json(waste, units, period, currency)), out)
    elif format == "csv":
        emit(tabular_csv(waste_tabular(waste, currency)), out)
    else:
        tables = [waste_tabular(waste, currency), unit_tabular(units, currency)]
        emit(tabular_xlsx(tables, "GPU waste", period), out)


def waste_tabular(waste: pl.DataFrame, currency: str, keys: tuple[str, ...] = ()) -> Tabular:
    """The waste rows with every column, or only ``keys`` (in table order)."""
    columns = tuple(c for c in WASTE_COLUMNS if not keys or c.key in keys)
    return Tabular("GPU waste", columns, waste.to_dicts(), currency)


def unit_tabular(units: pl.DataFrame, currency: str) -> Tabular:
    return Tabular("Cost per million tokens", UNIT_COLUMNS, units.to_dicts(), currency)


def as_json(
    waste: pl.DataFrame, units: pl.DataFrame, period: str, currency: str
) -> dict[str, object]:
    """The JSON document: totals, the definition, one object per row, unit costs."""
    return {
        "period": period,
        "currency": currency,
        "definition": DEFINITION,
        "totals": plain_row(waste_totals(waste), currency),
        "rows": [plain_row(row, currency, PRICES) for row in waste.to_dicts()],
        "unit_costs": [plain_row(row, currency, PRICES) for row in units.to_dicts()],
    }


def print_tables(
    console: Console, waste: pl.DataFrame, units: pl.DataFrame, period: str, currency: str
) -> None:
    totals = {
        key: cell_text(value, Column(key, key, "quantity" if "hours" in key else "money"), currency)
        for key, value in waste_totals(waste).items()
    }
    console.print(
        f"GPU waste {period}: {totals['waste_cost']} of {totals['cost']} {currency} priced GPU"
        f" time ({totals['idle_gpu_hours']} of {totals['gpu_hours']} GPU-hours idle)",
        highlight=False,
    )
    top = waste_tabular(waste.head(TABLE_ROWS), currency, TERMINAL_KEYS)
    shown = Tabular(f"Largest waste (top {TABLE_ROWS})", top.columns, top.rows, currency)
    console.print(terminal_table(shown, console.width))
    if not units.is_empty():
        console.print(terminal_table(unit_tabular(units, currency), console.width))
