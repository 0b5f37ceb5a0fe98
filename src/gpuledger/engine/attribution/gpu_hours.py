"""Billed GPU-hours of cost rows, each instance's charge period counted once.

One instance-hour is often billed by several rows: a GCP VM's GPU, core and RAM SKUs, an AWS
Savings Plan covered usage line and its negation, reservation-discounted usage. Each of them
carries the instance's ``x_GpuCount``, so ``x_GpuCount × hours`` per row would count the hours
once per row. Here the GPU-hours of an instance's charge period ([ChargePeriodStart,
ChargePeriodEnd) of its rows, on the instance ``coalesce(x_ParentResourceId, ResourceId)``) are
carried by exactly one of its rows, the *carrier*: among its usage rows with a GPU count that
are not a negation, the one with the most GPU-hours, then the largest amount, then the first
read. Every other row carries none; rows without a resource id carry their own.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.engine.attribution.keys import disagrees
from gpuledger.engine.attribution.rules import nature
from gpuledger.schema import Cost

# Provider line types that cancel another line's price: they bill no instance time.
NEGATION_LINE_TYPES: Final = ("SavingsPlanNegation",)
_CARRIER: Final = "_carrier"
_INSTANCE: Final = "_instance"
# The instance a row bills: a split line's parent, else the row's own resource.
INSTANCE: Final = pl.coalesce(Cost.x_ParentResourceId, Cost.ResourceId)


def row_gpu_hours() -> pl.Expr:
    """``x_GpuCount × hours`` of a usage row with a GPU count that is not a negation, else 0."""
    hours = (
        pl.col(Cost.ChargePeriodEnd) - pl.col(Cost.ChargePeriodStart)
    ).dt.total_seconds() / 3600.0
    bills_time = (
        (nature() == "usage")
        & (pl.col(Cost.x_GpuCount) > 0)
        & ~pl.col(Cost.x_LineItemType).is_in(NEGATION_LINE_TYPES).fill_null(False)
    )
    return pl.when(bills_time).then(pl.col(Cost.x_GpuCount) * hours).otherwise(0.0)


def _carrier(row: str, hours: pl.Expr, amount: pl.Expr) -> pl.Expr:
    """Within one instance's charge period: the row with the most hours, then amount, then first."""
    return pl.col(row).sort_by([hours, amount, pl.col(row)], descending=[True, True, False]).first()


def keyed_carriers(
    rows: pl.LazyFrame, *, row: str, instance: str, check: str, hours: str, amount: str
) -> pl.DataFrame | None:
    """The carrier rows (column ``row``) of ``rows``, instances told apart by a 64-bit key.

    ``instance`` and ``check`` are two independent keys of the instance id, ``hours`` the
    :func:`row_gpu_hours` and ``amount`` the cost basis of each row. Returns None when two
    instances share an ``instance`` key (their ``check`` keys disagree): use :func:`carriers`.
    """
    billed = rows.filter((pl.col(hours) > 0) & pl.col(instance).is_not_null())
    chosen = (
        billed.group_by(instance, Cost.ChargePeriodStart, Cost.ChargePeriodEnd)
        .agg(
            _carrier(row, pl.col(hours), pl.col(amount)),
            disagrees(check).alias("_collided"),
        )
        .collect(engine="streaming")
    )
    if chosen.get_column("_collided").any():
        return None
    return chosen.select(row, pl.lit(True).alias(_CARRIER))


def carriers(period_rows: pl.LazyFrame, row: str, amount: pl.Expr) -> pl.LazyFrame:
    """The carrier rows (column ``row``) of the cost rows ``period_rows``, instances told apart
    by their id itself (exact, slower than :func:`keyed_carriers`); ``amount`` is the cost basis.
    """
    hours = row_gpu_hours()
    return (
        period_rows.filter((hours > 0) & INSTANCE.is_not_null())
        .group_by(INSTANCE.alias(_INSTANCE), Cost.ChargePeriodStart, Cost.ChargePeriodEnd)
        .agg(_carrier(row, hours, amount))
        .select(row, pl.lit(True).alias(_CARRIER))
    )


def carried_once(
    rows: pl.LazyFrame, carrier_rows: pl.LazyFrame, *, row: str, instance: str, hours: str
) -> pl.LazyFrame:
    """``rows`` with ``hours`` kept on the carriers and set to 0 on the other rows of an instance.

    ``row`` numbers the rows as in ``carrier_rows``; rows whose ``instance`` key is null name no
    instance and keep their own hours.
    """
    keeps = pl.col(_CARRIER).fill_null(False) | pl.col(instance).is_null()
    return (
        rows.join(carrier_rows, on=row, how="left", maintain_order="left")
        .with_columns(pl.when(keeps).then(pl.col(hours)).otherwise(0.0).alias(hours))
        .drop(_CARRIER)
    )
