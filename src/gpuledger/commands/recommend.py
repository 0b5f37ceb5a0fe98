"""`gpuledger recommend`: the period's savings recommendations, or a status change on one of them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console

from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, require_out, terminal
from gpuledger.commands.period_choice import chosen_period, require_billing_data
from gpuledger.commands.waste import PRICES, unit_tabular
from gpuledger.engine.recommend.pipeline import (
    FINGERPRINT,
    STATUS,
    change_status,
    done_outcomes,
    gpu_bill,
    non_overlapping_saving,
    recommend,
)
from gpuledger.engine.waste.compute import store_waste
from gpuledger.engine.waste.unit_cost import compute_unit_costs
from gpuledger.errors import UsageError
from gpuledger.report.export.json_rule import json_bytes, money, plain_row
from gpuledger.report.export.tabular import Column, Tabular, cell_text, tabular_csv
from gpuledger.report.export.tabular_xlsx import tabular_xlsx
from gpuledger.report.export.terminal import terminal_table
from gpuledger.schema import Rec

COLUMNS = (
    Column("id", "id"),
    Column("kind", "kind"),
    Column("status", "status", drop=3),
    Column("team", "team"),
    Column("model", "model", drop=4),
    Column("monthly_saving", "saving/mo", "money"),
    Column("monthly_cost", "cost/mo", "money", drop=2),
    Column("confidence", "conf.", drop=5),
    Column("action", "action", drop=1, wrap=True),
    Column("resource_ids", "instances", drop=9),
)
TERMINAL_KEYS = frozenset(c.key for c in COLUMNS) - {"resource_ids"}


def run(
    ctx: Context,
    *,
    period: str | None,
    format: str,
    out: Path | None = None,
    dismiss: str | None,
    acknowledge: str | None,
    done: str | None,
    reason: str | None,
) -> None:
    changes = [
        (s, i)
        for s, i in (("dismissed", dismiss), ("acknowledged", acknowledge), ("done", done))
        if i
    ]
    if len(changes) > 1:
        raise UsageError("give one of --dismiss, --acknowledge, --done at a time")
    require_out(format, out)
    store = ctx.read_store
    period = chosen_period(store, period)
    if changes:
        status, rec_id = changes[0]
        _change_status(ctx, period, rec_id, status, reason)
        return
    require_billing_data(store, period)
    currency = ctx.settings.reporting.currency
    frame = recommend(store, ctx.settings, period)
    store_waste(store, ctx.settings, period)  # what the app's waste page reads
    document = as_json(frame, period, currency)
    outcomes = done_outcomes(store, ctx.settings, period)
    document["outcomes"] = [plain_row(o, currency) for o in outcomes]
    units = compute_unit_costs(store, ctx.settings, period)
    document["unit_costs"] = [plain_row(row, currency, PRICES) for row in units.to_dicts()]
    document["gpu_bill"] = money(gpu_bill(store, ctx.settings, period), currency)
    if format == "table":
        print_table(terminal(), frame, document, period)
    elif format == "json":
        emit(json_bytes(document), out)
    elif format == "csv":
        emit(tabular_csv(recommendation_tabular(document)), out)
    else:
        tables = [recommendation_tabular(document), unit_tabular(units, currency)]
        emit(tabular_xlsx(tables, "Recommendations", period), out)


def _change_status(ctx: Context, period: str, rec_id: str, status: str, reason: str | None) -> None:
    change_status(ctx.store, ctx.settings, period, rec_id, status, reason=reason)
    Console().print(f"{rec_id}: {status}", highlight=False)


def as_json(frame: pl.DataFrame, period: str, currency: str) -> dict[str, Any]:
    """The documented JSON shape, plus the open total (each instance's saving counted once)."""
    recommendations = []
    for row in frame.to_dicts():
        evidence = json.loads(row[Rec.evidence])
        evidence.pop(FINGERPRINT, None)
        recommendations.append(
            {
                "id": row[Rec.id],
                "kind": row[Rec.kind],
                "status": row[STATUS],
                "team": row[Rec.team],
                "model": row[Rec.model],
                "resource_ids": row[Rec.resource_ids],
                "monthly_cost": money(row[Rec.monthly_cost], currency),
                "monthly_saving": money(row[Rec.monthly_saving], currency),
                "confidence": row[Rec.confidence],
                "action": row[Rec.action],
                "evidence": evidence,
            }
        )
    return {
        "period": period,
        "currency": currency,
        "recommendations": recommendations,
        "open_monthly_saving": money(non_overlapping_saving(frame), currency),
    }


def recommendation_tabular(document: dict[str, Any], keys: frozenset[str] | None = None) -> Tabular:
    """The recommendations as a table: every one (files), or the columns ``keys`` (terminal)."""
    rows = [
        {**rec, "resource_ids": " ".join(rec["resource_ids"])}
        for rec in document["recommendations"]
    ]
    columns = tuple(c for c in COLUMNS if keys is None or c.key in keys)
    return Tabular("Recommendations", columns, rows, document["currency"])


def print_table(
    console: Console, frame: pl.DataFrame, document: dict[str, Any], period: str
) -> None:
    """The headline (open saving, its share of the GPU bill), the table, dismissed and done."""
    currency = document["currency"]
    amount = Column("amount", "amount", "money")
    bill = Decimal(document["gpu_bill"])
    combined = Decimal(document["open_monthly_saving"])
    share = (
        f" ({combined / bill:.0%} of the {cell_text(bill, amount, currency)} GPU bill)"
        if bill
        else ""
    )
    console.print(
        f"Recommendations {period}: {cell_text(combined, amount, currency)} {currency}/month open"
        f" saving, each instance counted once{share}",
        highlight=False,
    )
    listed = recommendation_tabular(document, TERMINAL_KEYS)
    shown = [row for row in listed.rows if row["status"] != "dismissed"]
    table = Tabular("", listed.columns, shown, currency)
    console.print(terminal_table(table, console.width))
    hidden = len(listed.rows) - len(shown)
    if hidden:
        console.print(f"{hidden} dismissed recommendation(s) not shown (see --format json)")
    for outcome in document["outcomes"]:
        console.print(
            f"done {outcome['id']} ({outcome['done_in']}): estimated"
            f" {cell_text(outcome['estimated_saving'], amount, currency)}, realized"
            f" {cell_text(outcome['realized_saving'], amount, currency)} this month",
            highlight=False,
        )
