"""On-prem cost rows: one cluster-month as canonical ``cost`` rows, two per host-hour.

Part of ``collect/onprem``. For every host of the cluster and every hour of the month:

* **fixed** (SkuId ``onprem:fixed``): the month's fixed cost (:func:`.costs.fixed_cost`) spread
  evenly over the host-hours, whole nano-units, the first host-hours one nano-unit more where the
  division leaves some, so the month's rows add up to it exactly;
* **energy** (SkuId ``onprem:energy``): kWh × PUE × the price in force that month, kWh from the
  host-hour's measured GPU power (:func:`.telemetry.host_hour_kwh`); a host-hour without a power
  reading is priced at ``idle_power_w`` (else ``tdp_w``) per GPU for the whole hour and flagged
  with SkuId ``onprem:energy-estimated`` and ChargeDescription "Energy (estimated: no telemetry)".

Hours that have not ended by ``now`` are left out, so the current month accrues like a bill.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import polars as pl

from gpuledger.collect.onprem.costs import (
    cluster_error,
    energy_cost,
    energy_price,
    fixed_cost,
    from_nanos,
    nth_share,
)
from gpuledger.collect.onprem.telemetry import HOUR, KWH, cluster_hosts, host_hour_kwh
from gpuledger.config import ClusterConfig
from gpuledger.period import Period
from gpuledger.schema import COST_SCHEMA, MONEY, Cost, Usage

PROVIDER: Final = "On-premises"
FIXED_SKU: Final = "onprem:fixed"
ENERGY_SKU: Final = "onprem:energy"
ESTIMATED_SKU: Final = "onprem:energy-estimated"
DESCRIPTIONS: Final = {
    FIXED_SKU: "Amortized hardware, support and colocation",
    ENERGY_SKU: "Energy (measured GPU power)",
    ESTIMATED_SKU: "Energy (estimated: no telemetry)",
}
_HOUR: Final = timedelta(hours=1)
_TAG_ORIGIN: Final = "cluster"


@dataclass(frozen=True)
class RowContext:
    """What the rows take from the settings beyond the cluster itself."""

    currency: str
    team_tag_key: str  # the first [tags] team key: the owner's tag on every row
    now: datetime


def cluster_month(
    cluster: ClusterConfig, period: Period, usage: pl.LazyFrame, context: RowContext
) -> pl.DataFrame:
    """The cluster's cost rows for ``period`` (see the module docstring); ``usage`` is the
    month's ``gpu_usage``."""
    fixed = fixed_cost(cluster, period)
    price = energy_price(cluster, period)
    hosts = cluster_hosts(cluster, usage, period)
    measured = {
        (host, hour): kwh
        for host, hour, kwh in host_hour_kwh(usage, list(hosts))
        .select(Usage.host, HOUR, KWH)
        .iter_rows()
    }
    hours = [period.start + _HOUR * n for n in range(period.days * 24)]
    cells = len(hosts) * len(hours)
    columns: dict[str, list[Any]] = {
        name: []
        for name in (Cost.ResourceId, Cost.ResourceName, Cost.ChargePeriodStart, Cost.SkuId)
    }
    amounts: list[Decimal] = []
    quantities: list[float] = []
    for host_index, (host, resource_id) in enumerate(hosts.items()):
        for hour_index, hour in enumerate(hours):
            if hour + _HOUR > context.now:
                break
            kwh = measured.get((host, hour))
            sku = ENERGY_SKU
            if kwh is None:
                kwh, sku = _estimated_kwh(cluster), ESTIMATED_SKU
            share = nth_share(fixed.total, cells, host_index * len(hours) + hour_index)
            for row_sku, nanos, quantity in (
                (FIXED_SKU, share, 1.0),
                (sku, energy_cost(kwh, cluster.pue, price), kwh),
            ):
                for name, value in zip(columns, (resource_id, host, hour, row_sku), strict=True):
                    columns[name].append(value)
                amounts.append(from_nanos(nanos))
                quantities.append(quantity)
    return _frame(cluster, period, columns, amounts, quantities, price, context)


def _estimated_kwh(cluster: ClusterConfig) -> float:
    """One hour of the configured idle (else TDP) power of every GPU of a host, in kWh."""
    watts = cluster.idle_power_w if cluster.idle_power_w is not None else cluster.tdp_w
    if watts is None:
        raise cluster_error(
            cluster,
            "idle_power_w",
            "a host-hour has no GPU power telemetry and no figure to estimate it from",
            "idle_power_w (or tdp_w) in watts per GPU",
        )
    return watts * cluster.gpus_per_host / 1000.0


def _frame(
    cluster: ClusterConfig,
    period: Period,
    columns: dict[str, list[Any]],
    amounts: list[Decimal],
    quantities: list[float],
    price: Decimal,
    context: RowContext,
) -> pl.DataFrame:
    money = pl.Series(amounts, dtype=MONEY)
    energy = pl.col(Cost.SkuId) != FIXED_SKU
    tags = (
        [{"key": context.team_tag_key, "value": cluster.team, "origin": _TAG_ORIGIN}]
        if cluster.team
        else []
    )
    facts = json.dumps({"pue": str(cluster.pue), "price_per_kwh": str(price)})
    return pl.DataFrame(
        {name: pl.Series(values, dtype=COST_SCHEMA[name]) for name, values in columns.items()}
    ).with_columns(
        pl.lit(cluster.name).alias(Cost.BillingAccountId),
        pl.lit(cluster.name).alias(Cost.BillingAccountName),
        pl.lit(cluster.name).alias(Cost.SubAccountId),
        pl.lit(cluster.name).alias(Cost.SubAccountName),
        pl.lit(period.start)
        .cast(COST_SCHEMA[Cost.BillingPeriodStart])
        .alias(Cost.BillingPeriodStart),
        pl.lit(period.end).cast(COST_SCHEMA[Cost.BillingPeriodEnd]).alias(Cost.BillingPeriodEnd),
        (pl.col(Cost.ChargePeriodStart) + _HOUR).alias(Cost.ChargePeriodEnd),
        pl.lit("Usage").alias(Cost.ChargeCategory),
        pl.col(Cost.SkuId).replace_strict(DESCRIPTIONS).alias(Cost.ChargeDescription),
        pl.lit(PROVIDER).alias(Cost.ProviderName),
        pl.lit("On-premises GPU cluster").alias(Cost.ServiceName),
        pl.lit("Compute").alias(Cost.ServiceCategory),
        pl.lit("GPU server").alias(Cost.ResourceType),
        pl.lit("Other").alias(Cost.PricingCategory),
        pl.Series(Cost.PricingQuantity, quantities, dtype=pl.Float64),
        pl.when(energy).then(pl.lit("kWh")).otherwise(pl.lit("Hours")).alias(Cost.PricingUnit),
        pl.Series(Cost.ConsumedQuantity, quantities, dtype=pl.Float64),
        pl.when(energy).then(pl.lit("kWh")).otherwise(pl.lit("Hours")).alias(Cost.ConsumedUnit),
        *(
            money.alias(name)
            for name in (Cost.BilledCost, Cost.EffectiveCost, Cost.ListCost, Cost.ContractedCost)
        ),
        pl.lit(context.currency).alias(Cost.BillingCurrency),
        pl.lit(tags, dtype=COST_SCHEMA[Cost.Tags]).alias(Cost.Tags),
        pl.lit(cluster.gpu_model).alias(Cost.x_GpuModel),
        pl.lit(cluster.gpus_per_host, dtype=pl.Int32).alias(Cost.x_GpuCount),
        pl.lit("gpu").alias(Cost.x_AcceleratorKind),
        pl.when(energy)
        .then(pl.lit("OnPremEnergy"))
        .otherwise(pl.lit("OnPremFixed"))
        .alias(Cost.x_LineItemType),
        pl.when(energy).then(pl.lit(facts)).alias(Cost.x_ProviderColumns),
        pl.lit(f"[[clusters]] {cluster.name}").alias(Cost.x_SourceFile),
    )
