"""GPU waste per team, model, workload and instance, in GPU-hours and in dollars.

**The waste definition** (what ``waste_cost`` means everywhere in gpuledger):

- *Held GPU-hours*: the time a GPU was billed and reporting, shared among the rows on one GPU's
  bucket in proportion to their active seconds.
- *Idle GPU-hours*: held hours with no workload on the GPU, or with SM activity under
  ``thresholds.waste.idle_sm_util`` (default 5 %).
- *Utilization-weighted GPU-hours*: held hours × SM activity / 100, the GPU time that computed.
- *Unused capacity*: on busy hours that are underused (SM activity under
  ``thresholds.waste.underused_sm_util``, default 30 %), the share of the GPU that neither computed
  nor held memory: held hours × (1 − max(SM activity / 100, memory used / memory total)). Busier
  hours count as fully used: real training and serving rarely exceed 60–70 % SM activity.
- *Waste cost* = (idle GPU-hours + unused-capacity GPU-hours) × the instance's price per
  GPU-hour, which is its bill for the month (cost basis from config) divided by its billed hours and
  its GPU count. Hours without a bill (telemetry from an instance not in ``cost``) have no price:
  their GPU-hours are reported and their dollars are left empty.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from gpuledger.config import Settings, canonical_team
from gpuledger.engine.waste_inputs import (
    HELD_S,
    IDLE,
    MODEL,
    SM,
    TEAM,
    WORKLOAD,
    ResourceCost,
    resource_costs,
    usage_rows,
)
from gpuledger.schema import Usage
from gpuledger.store import Store

CENT = Decimal("0.01")
GIB = 2**30
MONEY2 = pl.Decimal(38, 2)


class Waste:
    """Columns of the waste frame."""

    team = "team"
    model = "model"
    workload = "workload"
    ResourceId = "ResourceId"
    gpu_model = "gpu_model"
    gpu_hours = "gpu_hours"
    idle_gpu_hours = "idle_gpu_hours"
    used_gpu_hours = "used_gpu_hours"
    unused_gpu_hours = "unused_gpu_hours"
    mem_peak_gib = "mem_peak_gib"
    mem_p95_gib = "mem_p95_gib"
    mem_capacity_gib = "mem_capacity_gib"
    gpu_hour_price = "gpu_hour_price"
    cost = "cost"
    idle_cost = "idle_cost"
    unused_cost = "unused_cost"
    waste_cost = "waste_cost"
    currency = "currency"


WASTE_SCHEMA = pl.Schema(
    {  # dtype instances throughout, so the mapping has one value type
        Waste.team: pl.String(),
        Waste.model: pl.String(),
        Waste.workload: pl.String(),
        Waste.ResourceId: pl.String(),
        Waste.gpu_model: pl.String(),
        Waste.gpu_hours: pl.Float64(),
        Waste.idle_gpu_hours: pl.Float64(),
        Waste.used_gpu_hours: pl.Float64(),
        Waste.unused_gpu_hours: pl.Float64(),
        Waste.mem_peak_gib: pl.Float64(),
        Waste.mem_p95_gib: pl.Float64(),
        Waste.mem_capacity_gib: pl.Float64(),
        Waste.gpu_hour_price: pl.Decimal(38, 6),
        Waste.cost: MONEY2,
        Waste.idle_cost: MONEY2,
        Waste.unused_cost: MONEY2,
        Waste.waste_cost: MONEY2,
        Waste.currency: pl.String(),
    }
)


def unused_share(settings: Settings) -> pl.Expr:
    """Share of a row's held time that is unused capacity (see the module docstring)."""
    fill = (pl.col(Usage.mem_used_bytes) / pl.col(Usage.mem_total_bytes)).fill_null(0.0)
    used = pl.max_horizontal(pl.col(SM) / 100, fill).clip(0.0, 1.0)
    underused = ~pl.col(IDLE) & (pl.col(SM) < settings.thresholds.waste.underused_sm_util)
    return pl.when(underused).then(1.0 - used).otherwise(0.0)


def waste_hours(rows: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """GPU-hours and memory per (team, model, workload, instance, GPU model): no money yet."""
    held_h = pl.col(HELD_S) / 3600
    return (
        rows.group_by(TEAM, MODEL, WORKLOAD, Usage.ResourceId, Usage.gpu_model)
        .agg(
            held_h.sum().alias(Waste.gpu_hours),
            held_h.filter(pl.col(IDLE)).sum().alias(Waste.idle_gpu_hours),
            (held_h * pl.col(Usage.sm_util).fill_null(0.0) / 100).sum().alias(Waste.used_gpu_hours),
            (held_h * unused_share(settings)).sum().alias(Waste.unused_gpu_hours),
            (pl.col(Usage.mem_used_bytes).max() / GIB).alias(Waste.mem_peak_gib),
            (pl.col(Usage.mem_used_bytes).quantile(0.95, "linear") / GIB).alias(Waste.mem_p95_gib),
            (pl.col(Usage.mem_total_bytes).max() / GIB).alias(Waste.mem_capacity_gib),
        )
        .rename({TEAM: Waste.team, MODEL: Waste.model, WORKLOAD: Waste.workload})
    )


def price_waste(
    hours: pl.DataFrame, resources: dict[str, ResourceCost], currency: str
) -> pl.DataFrame:
    """Attach dollars to the GPU-hours: hours × the instance's price per GPU-hour, to the cent."""
    records = []
    for row in hours.to_dicts():
        resource = resources.get(row[Waste.ResourceId] or "")
        price = None if resource is None else resource.gpu_hourly
        money = {
            key: None if price is None else _cents(price * _dec(row[src]))
            for key, src in (
                (Waste.cost, Waste.gpu_hours),
                (Waste.idle_cost, Waste.idle_gpu_hours),
                (Waste.unused_cost, Waste.unused_gpu_hours),
            )
        }
        waste = None
        if price is not None:
            waste = _cents(
                price * (_dec(row[Waste.idle_gpu_hours]) + _dec(row[Waste.unused_gpu_hours]))
            )
        records.append(
            {
                **row,
                **money,
                Waste.gpu_hour_price: None if price is None else price.quantize(Decimal("1e-6")),
                Waste.waste_cost: waste,
                Waste.currency: resource.currency if resource else currency,
            }
        )
    frame = (
        pl.DataFrame(records, schema=WASTE_SCHEMA) if records else pl.DataFrame(schema=WASTE_SCHEMA)
    )
    return frame.sort(
        Waste.waste_cost,
        Waste.team,
        Waste.ResourceId,
        descending=[True, False, False],
        nulls_last=True,
    )


def _dec(hours: float | None) -> Decimal:
    return Decimal(repr(hours or 0.0))


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def compute_waste(
    store: Store, settings: Settings, period: str, team: str | None = None
) -> pl.DataFrame:
    """The waste frame for a period (one team's rows when ``team`` is given)."""
    resources = resource_costs(store, settings, period)
    rows = usage_rows(store, settings, period, {rid: r.owner for rid, r in resources.items()})
    hours = waste_hours(rows, settings).collect()
    if team is not None:
        wanted = canonical_team(settings, team) or team  # "NLP" and an alias find "nlp"
        hours = hours.filter(pl.col(Waste.team) == wanted)
    return price_waste(hours, resources, settings.reporting.currency)


def waste_totals(waste: pl.DataFrame) -> dict[str, object]:
    """Period totals of a waste frame (for the summary line and JSON output)."""
    return {
        "gpu_hours": round(float(waste[Waste.gpu_hours].sum() or 0.0), 3),
        "idle_gpu_hours": round(float(waste[Waste.idle_gpu_hours].sum() or 0.0), 3),
        "cost": Decimal(waste[Waste.cost].sum() or 0),
        "waste_cost": Decimal(waste[Waste.waste_cost].sum() or 0),
    }
