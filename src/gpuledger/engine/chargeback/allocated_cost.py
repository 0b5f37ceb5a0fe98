"""The cost rows split by allocation: one row per allocation row, with its cost line's details.

The FOCUS allocation export needs what a cost row says (region, SKU, invoice, list price…) next
to who the allocation put each piece on. Allocation rows name their cost line by account,
resource, service, charge and pricing category; the cost rows sharing those are one *cost line*
here, and each allocation row gets that line's descriptive columns and its share of every cost
measure.
"""

from __future__ import annotations

import polars as pl

from gpuledger.config import Settings
from gpuledger.schema import MONEY, Alloc, Cost
from gpuledger.store.delta import Store

# What identifies the cost line an allocation row came from (same names in both tables).
LINE_KEY = (
    Alloc.ProviderName,
    Alloc.BillingAccountId,
    Alloc.SubAccountId,
    Alloc.ResourceId,
    Alloc.ServiceName,
    Alloc.ChargeCategory,
    Alloc.PricingCategory,
)
MEASURES = (Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost)
DESCRIPTIVE = (
    Cost.BillingAccountName,
    Cost.SubAccountName,
    Cost.BillingPeriodEnd,
    Cost.ChargeClass,
    Cost.ChargeDescription,
    Cost.ServiceCategory,
    Cost.RegionId,
    Cost.ResourceName,
    Cost.ResourceType,
    Cost.SkuId,
    Cost.PricingUnit,
    Cost.ConsumedUnit,
    Cost.CommitmentDiscountId,
    Cost.CommitmentDiscountType,
    Cost.x_InvoiceId,
    Cost.Tags,
)
SHARE = "_share"
_LINE_BASIS = "_line_basis"
_LINE_ROWS = "_line_rows"


def _sum_or_null(column: str) -> pl.Expr:
    """The sum, or null where every value is null: an absent list price is not a price of 0."""
    return pl.when(pl.col(column).is_not_null().any()).then(pl.col(column).sum()).alias(column)


def allocated_cost_rows(
    store: Store, settings: Settings, period: str, versions: dict[str, int | None]
) -> pl.LazyFrame:
    """Allocation rows of ``period`` joined to their cost lines, at the given table versions.

    Each row carries the configured cost basis exactly as allocated, and the other measures
    (BilledCost, EffectiveCost, ListCost, ContractedCost) as its share of its cost line:
    ``allocated basis ÷ the line's basis``, or an even share of the line's allocation rows where
    the line's basis is zero. A row whose line is not in ``cost`` (which conservation rules out
    for a reconciled month) keeps its allocated amount in every measure.
    """
    basis = settings.reporting.cost_basis
    allocation = store.scan("allocation", versions.get("allocation")).filter(
        pl.col(Alloc.x_BillingPeriod) == period
    )
    lines = (
        store.scan("cost", versions.get("cost"))
        .filter(pl.col(Cost.x_BillingPeriod) == period)
        .group_by(LINE_KEY)
        .agg(
            *(_sum_or_null(m) for m in (*MEASURES, Cost.PricingQuantity, Cost.ConsumedQuantity)),
            *(pl.col(c).first() for c in DESCRIPTIVE),
            pl.col(basis).sum().alias(_LINE_BASIS),
        )
    )
    joined = allocation.with_columns(pl.len().over(LINE_KEY).cast(pl.Int64).alias(_LINE_ROWS)).join(
        lines, on=list(LINE_KEY), how="left", nulls_equal=True
    )
    share = (
        pl.when(pl.col(_LINE_BASIS) != 0)
        .then(pl.col(Alloc.cost).cast(pl.Float64) / pl.col(_LINE_BASIS).cast(pl.Float64))
        .otherwise(1.0 / pl.col(_LINE_ROWS).cast(pl.Float64))
    )
    return (
        joined.with_columns(share.alias(SHARE))
        .with_columns(
            *(
                pl.when(pl.col(_LINE_BASIS).is_null())
                .then(pl.col(Alloc.cost))
                .otherwise((pl.col(m).cast(pl.Float64) * pl.col(SHARE)).round(10).cast(MONEY))
                .alias(m)
                for m in MEASURES
                if m != basis
            ),
            pl.col(Alloc.cost).alias(basis),
            (pl.col(Cost.PricingQuantity) * pl.col(SHARE)).alias(Cost.PricingQuantity),
            (pl.col(Cost.ConsumedQuantity) * pl.col(SHARE)).alias(Cost.ConsumedQuantity),
        )
        .drop(_LINE_BASIS, _LINE_ROWS)
        .sort(Alloc.team, *LINE_KEY, Alloc.day, Alloc.model, Alloc.workload, nulls_last=True)
    )
