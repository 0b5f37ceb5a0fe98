"""`gpuledger recommend`: the period's savings recommendations, or a status change on one of them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
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
from gpuledger.schema import Rec


def run(
    ctx: Context,
    *,
    period: str,
    format: str,
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
    if changes:
        status, rec_id = changes[0]
        _change_status(ctx, period, rec_id, status, reason)
        return
    frame = recommend(ctx.store, ctx.settings, period)
    store_waste(ctx.store, ctx.settings, period)  # what the app's waste page reads
    document = as_json(frame, period, ctx.settings.reporting.currency)
    document["outcomes"] = [_plain_dict(o) for o in done_outcomes(ctx.store, ctx.settings, period)]
    units = compute_unit_costs(ctx.store, ctx.settings, period)
    document["unit_costs"] = [_plain_dict(row) for row in units.to_dicts()]
    document["gpu_bill"] = float(
        gpu_bill(ctx.store, ctx.settings, period).quantize(Decimal("0.01"))
    )
    if format == "json":
        print(json.dumps(document, indent=2))
        return
    print_table(Console(), frame, document, period)


def _change_status(ctx: Context, period: str, rec_id: str, status: str, reason: str | None) -> None:
    change_status(ctx.store, ctx.settings, period, rec_id, status, reason=reason)
    Console().print(f"{rec_id}: {status}", highlight=False)


def _plain(value: object) -> object:
    return float(value) if isinstance(value, Decimal) else value


def _plain_dict(row: dict[str, object]) -> dict[str, object]:
    return {key: _plain(value) for key, value in row.items()}


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
                "monthly_cost": float(row[Rec.monthly_cost]),
                "monthly_saving": float(row[Rec.monthly_saving]),
                "confidence": row[Rec.confidence],
                "action": row[Rec.action],
                "evidence": evidence,
            }
        )
    return {
        "period": period,
        "currency": currency,
        "recommendations": recommendations,
        "open_monthly_saving": float(non_overlapping_saving(frame)),
    }


def print_table(
    console: Console, frame: pl.DataFrame, document: dict[str, Any], period: str
) -> None:
    shown = frame.filter(pl.col(STATUS) != "dismissed")
    bill = document["gpu_bill"]
    combined = document["open_monthly_saving"]
    share = f" ({combined / bill:.0%} of the {bill:,.2f} GPU bill)" if bill else ""
    table = Table(
        title=f"Recommendations {period}: {combined:,.2f} {document['currency']}/month open"
        f" saving, each instance counted once{share}",
        title_justify="left",
    )
    for name in (
        "id",
        "kind",
        "status",
        "team",
        "model",
        "saving/mo",
        "cost/mo",
        "conf.",
        "action",
    ):
        table.add_column(name, justify="right" if name.endswith("/mo") else "left")
    for row in shown.to_dicts():
        table.add_row(
            row[Rec.id],
            row[Rec.kind],
            row[STATUS],
            row[Rec.team],
            row[Rec.model] or "-",
            f"{row[Rec.monthly_saving]:,}",
            f"{row[Rec.monthly_cost]:,}",
            row[Rec.confidence],
            row[Rec.action],
        )
    console.print(table)
    hidden = frame.height - shown.height
    if hidden:
        console.print(f"{hidden} dismissed recommendation(s) not shown (see --format json)")
    for outcome in document["outcomes"]:
        console.print(
            f"done {outcome['id']} ({outcome['done_in']}): estimated {outcome['estimated_saving']:,.2f},"
            f" realized {outcome['realized_saving']:,.2f} this month",
            highlight=False,
        )
