"""The FOCUS allocation export: cost rows split by allocation, as a FOCUS 1.2 Parquet file.

Each allocation row becomes one FOCUS row carrying its cost line's columns and its share of
the cost, plus FOCUS 1.3's allocation columns (``AllocatedMethodId``, ``AllocatedMethodDetails``,
``AllocatedResourceId``, ``AllocatedResourceName``, ``AllocatedTags``) and ours (``x_Team``,
``x_Model``, ``x_Workload``, ``x_AllocationRule``, ``x_CostType``, ``x_GpuModel``,
``x_GpuHours``). Parquet keeps ids as strings and amounts as decimals, and no cell of it can be
taken for a spreadsheet formula.
"""

from __future__ import annotations

import io
import json
from typing import Any, Final

import polars as pl

from gpuledger.engine.chargeback.allocated_cost import SHARE
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.errors import UsageError
from gpuledger.schema import MONEY, UTC_TIME, Alloc, Cost

# FOCUS 1.2 columns this export has no source for: present, and null, as the spec allows.
_NULL_STRINGS: Final = (
    "BillingAccountType",
    "SubAccountType",
    "SkuMeter",
    "SkuPriceId",
    "SkuPriceDetails",
    "RegionName",
    "AvailabilityZone",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountStatus",
    "CommitmentDiscountUnit",
    "CapacityReservationId",
    "CapacityReservationStatus",
)
_NULL_NUMBERS: Final = (
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyListUnitPrice",
    "CommitmentDiscountQuantity",
)


def render_focus(statements: Statements) -> bytes:
    """Parquet bytes of the FOCUS allocation rows of the statements' month."""
    if statements.focus_rows is None:
        raise UsageError("these statements carry no cost rows for a FOCUS export")
    frame = focus_frame(statements.focus_rows).collect()
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()


def _json_text(expr: pl.Expr) -> pl.Expr:
    return expr.map_elements(
        lambda value: json.dumps(value, sort_keys=True, separators=(",", ":")),
        return_dtype=pl.String,
    )


def _tags_object(tags: pl.Series | None) -> str | None:
    """FOCUS Tags: one JSON object of key → value (the last value wins for a repeated key)."""
    if tags is None or tags.is_empty():
        return None
    return json.dumps({tag["key"]: tag["value"] for tag in tags.to_list()}, sort_keys=True)


def _charge_period() -> list[pl.Expr]:
    """A dated allocation row covers its day; an undated one its whole billing period."""
    start = pl.col(Alloc.day).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(UTC_TIME)
    return [
        pl.coalesce(start, pl.col(Alloc.BillingPeriodStart)).alias(Cost.ChargePeriodStart),
        pl.coalesce(start + pl.duration(days=1), pl.col(Cost.BillingPeriodEnd)).alias(
            Cost.ChargePeriodEnd
        ),
    ]


def _method_details(row: dict[str, Any]) -> str:
    """FOCUS 1.3 AllocatedMethodDetails: the row's ratio of its cost line, with its GPU-hours."""
    element = {
        "AllocatedRatio": None if row[SHARE] is None else round(row[SHARE], 12),
        "UsageQuantity": row[Alloc.gpu_hours],
        "UsageUnit": "GPU-Hours",
    }
    return json.dumps({"Elements": [element]}, sort_keys=True)


def _allocation_columns() -> list[pl.Expr]:
    receiver = pl.coalesce(Alloc.workload, Alloc.ResourceId)
    details = pl.struct(SHARE, Alloc.gpu_hours).map_elements(
        _method_details, return_dtype=pl.String
    )
    tags = pl.struct(
        pl.col(Alloc.team).alias("team"),
        pl.col(Alloc.model).alias("model"),
        pl.col(Alloc.workload).alias("workload"),
    )
    return [
        pl.col(Alloc.rule).alias("AllocatedMethodId"),
        details.alias("AllocatedMethodDetails"),
        receiver.alias("AllocatedResourceId"),
        receiver.alias("AllocatedResourceName"),
        _json_text(tags).alias("AllocatedTags"),
        pl.col(Alloc.team).alias("x_Team"),
        pl.col(Alloc.model).alias("x_Model"),
        pl.col(Alloc.workload).alias("x_Workload"),
        pl.col(Alloc.rule).alias("x_AllocationRule"),
        pl.col(Alloc.cost_type).alias("x_CostType"),
        pl.col(Alloc.x_GpuModel).alias("x_GpuModel"),
        pl.col(Alloc.gpu_hours).alias("x_GpuHours"),
        pl.col(Alloc.x_BillingPeriod).alias("x_BillingPeriod"),
    ]


def focus_frame(rows: pl.LazyFrame) -> pl.LazyFrame:
    """FOCUS columns from the allocated cost rows (see ``engine.allocated_cost``)."""
    provider = pl.col(Alloc.ProviderName)
    frequency = (
        pl.when(pl.col(Cost.ChargeCategory) == "Usage")
        .then(pl.lit("Usage-Based"))
        .otherwise(pl.lit("One-Time"))
    )
    billed = pl.col(Cost.BilledCost)
    # Every FOCUS 1.2 service category has an "Other (<category>)" subcategory; the cost rows
    # carry no finer subcategory, so that is the honest value.
    category = pl.col(Cost.ServiceCategory).fill_null("Other")
    return rows.select(
        provider.alias("ProviderName"),
        provider.alias("PublisherName"),
        provider.alias("InvoiceIssuerName"),
        pl.col(Cost.x_InvoiceId).alias("InvoiceId"),
        pl.col(Cost.BillingAccountId),
        pl.col(Cost.BillingAccountName),
        pl.col(Cost.SubAccountId),
        pl.col(Cost.SubAccountName),
        pl.col(Alloc.BillingPeriodStart).alias(Cost.BillingPeriodStart),
        pl.col(Cost.BillingPeriodEnd),
        *_charge_period(),
        pl.col(Cost.ChargeCategory),
        pl.col(Cost.ChargeClass),
        pl.coalesce(
            Cost.ChargeDescription,
            pl.format("{} {} allocated to {}", Cost.ServiceName, Alloc.cost_type, Alloc.team),
        ).alias(Cost.ChargeDescription),
        frequency.alias("ChargeFrequency"),
        billed.alias(Cost.BilledCost),
        pl.col(Cost.EffectiveCost),
        pl.coalesce(Cost.ListCost, billed).alias(Cost.ListCost),
        pl.coalesce(Cost.ContractedCost, billed).alias(Cost.ContractedCost),
        pl.col(Cost.PricingCategory),
        pl.col(Cost.PricingQuantity),
        pl.col(Cost.PricingUnit),
        pl.col(Alloc.currency).alias("PricingCurrency"),
        pl.col(Cost.EffectiveCost).alias("PricingCurrencyEffectiveCost"),
        pl.col(Alloc.currency).alias(Cost.BillingCurrency),
        pl.col(Cost.ConsumedQuantity),
        pl.col(Cost.ConsumedUnit),
        pl.col(Cost.ServiceName),
        category.alias(Cost.ServiceCategory),
        pl.format("Other ({})", category).alias("ServiceSubcategory"),
        pl.col(Cost.SkuId),
        pl.col(Cost.ResourceId),
        pl.col(Cost.ResourceName),
        pl.col(Cost.ResourceType),
        pl.col(Cost.RegionId),
        pl.col(Cost.CommitmentDiscountId),
        pl.col(Cost.CommitmentDiscountType),
        pl.col(Cost.Tags).map_elements(_tags_object, return_dtype=pl.String).alias(Cost.Tags),
        *(pl.lit(None, dtype=pl.String).alias(name) for name in _NULL_STRINGS),
        *(pl.lit(None, dtype=MONEY).alias(name) for name in _NULL_NUMBERS),
        *_allocation_columns(),
    )
