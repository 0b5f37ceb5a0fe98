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

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

from gpuledger.config import Settings, canonical_team
from gpuledger.engine.attribution.gpu_weights import prefer_measured
from gpuledger.engine.waste.inputs import (
    HELD_S,
    IDLE,
    MODEL,
    SM,
    TEAM,
    WORKLOAD,
    ResourceCost,
    label_rows,
    resource_costs,
    usage_rows,
)
from gpuledger.period import Period
from gpuledger.schema import WASTE_SCHEMA, Usage, Waste, WasteHour
from gpuledger.store.delta import Store

# The frame's columns and dtypes are spelled in ``schema`` (the ``waste`` table stores the frame);
# they are exported from here too, beside the code that fills them.
__all__ = [
    "CENT",
    "CHUNK_ROWS",
    "GIB",
    "HOURLY_COLUMNS",
    "WASTE_SCHEMA",
    "PeriodWaste",
    "Waste",
    "compute_waste",
    "inputs_stamp",
    "period_waste",
    "price_waste",
    "store_waste",
    "stored_waste",
    "team_hours",
    "unused_share",
    "usage_slices",
    "waste_hours",
    "waste_totals",
]

CENT = Decimal("0.01")
GIB = 2**30


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
    owners = {rid: r.owner for rid, r in resources.items()}
    hours = pl.concat(
        [
            waste_hours(rows, settings).collect()
            for rows in usage_slices(store, settings, period, owners)
        ]
    )
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


# The stored precompute ---------------------------------------------------------------------------
#
# The waste page needs the whole month's waste frame and its telemetry per team × GPU × hour.
# Both come from every telemetry row of the month (tens of millions on a large fleet), too slow to
# derive while a page loads, so the engine stores them (tables ``waste`` and ``waste_hourly``)
# whenever it recommends, and stamps each row with the ledger it was computed from. A reader uses
# them only while that stamp still matches, and otherwise computes live: the precompute is a
# shortcut, never a second source of truth.


@dataclass(frozen=True)
class PeriodWaste:
    """A month's waste frame for every team, and its held and busy hours per team × GPU × hour."""

    rows: pl.DataFrame  # schema ``WASTE_SCHEMA``
    hourly: pl.DataFrame  # ``WasteHour`` columns, less ``period`` and ``inputs``


def team_hours(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Held and busy hours per team × GPU × clock hour of labelled telemetry rows."""
    gpu = pl.when(pl.col(Usage.host).is_not_null()).then(
        pl.format("{}/{}", Usage.host, Usage.gpu_index)
    )
    return rows.group_by(
        pl.col(TEAM).alias(WasteHour.team),
        pl.coalesce(gpu, pl.col(Usage.gpu_uuid)).alias(WasteHour.gpu),
        pl.col(Usage.bucket_start).dt.truncate("1h").alias(WasteHour.hour),
    ).agg(
        pl.col(Usage.gpu_model).first().alias(WasteHour.gpu_model),
        (pl.col(HELD_S).sum() / 3600).alias(WasteHour.held_hours),
        (pl.col(HELD_S) * pl.col(SM).fill_null(0.0) / 100)
        .sum()
        .truediv(3600)
        .alias(WasteHour.busy_hours),
    )


CHUNK_ROWS = 3_000_000  # telemetry rows labelled at once: bounds memory to a few GiB


def usage_slices(
    store: Store,
    settings: Settings,
    period: str,
    owners: Mapping[str, str | None],
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pl.LazyFrame]:
    """The period's labelled telemetry (:func:`usage_rows`) in slices of about ``chunk_rows``.

    A month of a large fleet (tens of millions of rows) would need well over 10 GiB labelled at
    once, mostly for the per-bucket shares, so the rows are cut by instance (a hash of
    ``ResourceId``). That changes no number of what reads them per instance (every waste group,
    every instance profile and owner lies within one instance) since a GPU's bucket belongs to the
    one instance that held the GPU then: each slice's rows are complete. A small month is one
    slice, the rows of :func:`usage_rows` as they are.
    """
    start, end = Period.parse(period).bounds()
    scan = prefer_measured(store.scan("gpu_usage"), start, end)
    total = scan.select(pl.len()).collect().item()
    slices = max(1, -(-total // chunk_rows))
    if slices == 1:
        yield usage_rows(store, settings, period, owners)
        return
    for index in range(slices):
        part = scan.filter(pl.col(Usage.ResourceId).hash(seed=0) % slices == index)
        yield label_rows(part, settings, owners)


def period_waste(
    store: Store, settings: Settings, period: str, *, chunk_rows: int = CHUNK_ROWS
) -> PeriodWaste:
    """Compute the waste frame and the hourly grid of ``period`` from the ledger.

    The same steps as :func:`compute_waste`, with each slice of telemetry
    (:func:`usage_slices`) labelled once and shared by the frame and the grid, which are collected
    together. Where one GPU name and hour has rows in several slices (the same host name on two
    instances), its hours are summed back into one cell.
    """
    resources = resource_costs(store, settings, period)
    owners = {rid: r.owner for rid, r in resources.items()}
    hours, hourly = [], []
    for rows in usage_slices(store, settings, period, owners, chunk_rows=chunk_rows):
        found = pl.collect_all([waste_hours(rows, settings), team_hours(rows)])
        hours.append(found[0])
        hourly.append(found[1].select(HOURLY_COLUMNS))
    grid = pl.concat(hourly)
    if len(hourly) > 1:
        grid = grid.group_by(WasteHour.team, WasteHour.gpu, WasteHour.hour).agg(
            pl.col(WasteHour.gpu_model).first(),
            pl.col(WasteHour.held_hours).sum(),
            pl.col(WasteHour.busy_hours).sum(),
        )
    return PeriodWaste(
        rows=price_waste(pl.concat(hours), resources, settings.reporting.currency),
        hourly=grid.select(HOURLY_COLUMNS),
    )


HOURLY_COLUMNS = (
    WasteHour.team,
    WasteHour.gpu,
    WasteHour.gpu_model,
    WasteHour.hour,
    WasteHour.held_hours,
    WasteHour.busy_hours,
)


def inputs_stamp(store: Store, settings: Settings) -> str:
    """What the waste of any period is computed from: the ``cost`` and ``gpu_usage`` versions
    and the settings (thresholds, team tags and aliases, currency).

    Only those inputs: waste never reads ``allocation``, so re-attributing a month leaves its
    stored waste current. Any append or restatement of a bill or telemetry moves a version, and
    any config change moves the settings digest, so a stale precompute is never mistaken for a
    current one.
    """
    digest = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]
    return f"cost={store.version('cost')};gpu_usage={store.version('gpu_usage')};config={digest}"


def store_waste(store: Store, settings: Settings, period: str) -> PeriodWaste:
    """Compute ``period``'s waste and hourly grid and store them, stamped with their inputs.

    The stamp is taken before the compute: should telemetry land meanwhile, the stored rows carry
    the older version and readers recompute rather than trust them. Each table's partition for the
    period is replaced whole, so an empty month clears what an earlier run stored.
    """
    stamp = inputs_stamp(store, settings)
    found = period_waste(store, settings, period)
    tagged = [pl.lit(period).alias(Waste.period), pl.lit(stamp).alias(Waste.inputs)]
    store.replace_partitions(
        "waste",
        found.rows.with_columns(tagged),
        [Waste.period],
        replace=[{Waste.period: period}],
    )
    store.replace_partitions(
        "waste_hourly",
        found.hourly.with_columns(tagged),
        [WasteHour.period],
        replace=[{WasteHour.period: period}],
    )
    return found


def stored_waste(store: Store, settings: Settings, period: str) -> PeriodWaste | None:
    """``period``'s stored waste and hourly grid, or None where none is stored or it is stale.

    Current means every stored row of both tables carries the stamp of the ledger as it is now.
    A month stored empty reads as missing: computing an empty month live costs next to nothing.
    """
    stamp = inputs_stamp(store, settings)
    rows = store.scan("waste").filter(pl.col(Waste.period) == period).collect()
    if rows.is_empty() or not (rows[Waste.inputs] == stamp).all():
        return None
    hourly = store.scan("waste_hourly").filter(pl.col(WasteHour.period) == period).collect()
    if hourly.is_empty() or not (hourly[WasteHour.inputs] == stamp).all():
        return None
    return PeriodWaste(
        rows=rows.select(WASTE_SCHEMA.names()).sort(
            Waste.waste_cost,
            Waste.team,
            Waste.ResourceId,
            descending=[True, False, False],
            nulls_last=True,
        ),
        hourly=hourly.select(HOURLY_COLUMNS),
    )
