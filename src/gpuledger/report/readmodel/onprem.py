"""Read model of the on-prem page: each cluster's cost per GPU-hour beside the cloud's price.

Per cluster (the billing account of source ``onprem``) and GPU model, for one month:

* cost: hardware (the ``onprem:fixed`` rows: amortized purchase, support, colocation), energy
  (measured and estimated), total, and the estimated part of the energy on its own;
* GPU-hours: billed (GPUs × host-hours), and from the allocation how attribution split them:
  used (workloads), idle, and without telemetry;
* rates: hardware, energy and total per billed GPU-hour, total per *used* GPU-hour;
* the cloud's price: the lowest on-demand price per GPU of the same GPU in the price book, in
  the regions the month's cloud GPU instances run in (as the placement recommendation reads it).

Nothing is computed here that the collector or attribution computed already; this only divides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.recommend.placement import ONPREM_PROVIDER, cloud_gpu_price
from gpuledger.prices.book import PriceBook
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store

FIXED_SKU: Final = "onprem:fixed"  # the SkuId `ingest onprem` gives hardware + fixed rows
ESTIMATED_SKU: Final = "onprem:energy-estimated"
MEASURED_SKU: Final = "onprem:energy"
_REPORTED: Final = "_reported"
CLUSTER = "cluster"
GPU_MODEL = "gpu_model"
HOSTS = "hosts"
HARDWARE = "hardware_cost"
ENERGY = "energy_cost"
ESTIMATED = "estimated_energy_cost"
TOTAL = "total_cost"
GPU_HOURS = "gpu_hours"
USED = "used_gpu_hours"
IDLE = "idle_gpu_hours"
UNREPORTED = "no_telemetry_gpu_hours"
HARDWARE_RATE = "hardware_per_gpu_hour"
ENERGY_RATE = "energy_per_gpu_hour"
RATE = "per_gpu_hour"
USED_RATE = "per_used_gpu_hour"
CLOUD_RATE = "cloud_per_gpu_hour"
CLOUD_INSTANCE = "cloud_instance"
CURRENCY = "currency"
RATE_DTYPE: Final = pl.Decimal(38, 4)


@dataclass(frozen=True)
class OnpremView:
    clusters: pl.DataFrame  # one row per (cluster, GPU model, currency): the columns above


def onprem_view(store: Store, settings: Settings, period: str) -> OnpremView:
    """The month's on-prem clusters with their rates and the cloud's price (module docstring)."""
    costs = cluster_costs(store, settings, period)
    if costs.is_empty():
        return OnpremView(costs)
    hours = gpu_hour_split(store, period)
    clusters = costs.join(hours, on=[CLUSTER, GPU_MODEL], how="left").with_columns(
        pl.col(USED, IDLE, UNREPORTED).fill_null(0.0)
    )
    return OnpremView(with_rates(clusters, cloud_prices(store, settings, period, clusters)))


def cluster_costs(store: Store, settings: Settings, period: str) -> pl.DataFrame:
    """Cost and billed GPU-hours per cluster and GPU model, by component."""
    basis = pl.col(settings.reporting.cost_basis)
    fixed = pl.col(Cost.SkuId) == FIXED_SKU
    return (
        store.scan("cost")
        .filter(
            (pl.col(Cost.x_BillingPeriod) == period)
            & (pl.col(Cost.ProviderName) == ONPREM_PROVIDER)
        )
        .group_by(
            pl.col(Cost.BillingAccountId).alias(CLUSTER),
            pl.col(Cost.x_GpuModel).alias(GPU_MODEL),
            pl.col(Cost.BillingCurrency).alias(CURRENCY),
        )
        .agg(
            pl.col(Cost.ResourceId).n_unique().alias(HOSTS),
            basis.filter(fixed).sum().alias(HARDWARE),
            basis.filter(~fixed).sum().alias(ENERGY),
            basis.filter(pl.col(Cost.SkuId) == ESTIMATED_SKU).sum().alias(ESTIMATED),
            basis.sum().alias(TOTAL),
            pl.col(Cost.x_GpuCount).filter(fixed).cast(pl.Float64).sum().alias(GPU_HOURS),
        )
        .sort(CLUSTER, GPU_MODEL, CURRENCY)
        .collect()
    )


def gpu_hour_split(store: Store, period: str) -> pl.DataFrame:
    """Used, idle and unreported GPU-hours per cluster and GPU model, from the allocation.

    Attribution gives a host-hour without telemetry on a host that reported in the month to
    ``no_telemetry``; a host that never reported goes whole to its owner as usage. Its hours are
    unreported here too: a host counts as used only for what its telemetry showed.
    """
    kind = pl.col(Alloc.cost_type)
    hours = pl.col(Alloc.gpu_hours)
    reported = (
        store.scan("cost")
        .filter(
            (pl.col(Cost.x_BillingPeriod) == period)
            & (pl.col(Cost.ProviderName) == ONPREM_PROVIDER)
        )
        .group_by(Cost.ResourceId)
        .agg((pl.col(Cost.SkuId) == MEASURED_SKU).any().alias(_REPORTED))
    )
    per_host = (
        store.scan("allocation")
        .filter(
            (pl.col(Alloc.x_BillingPeriod) == period)
            & (pl.col(Alloc.ProviderName) == ONPREM_PROVIDER)
        )
        .group_by(Alloc.BillingAccountId, Alloc.x_GpuModel, Alloc.ResourceId)
        .agg(
            hours.filter(kind == "idle").sum().alias(IDLE),
            hours.filter(kind == "no_telemetry").sum().alias(UNREPORTED),
            hours.filter(~kind.is_in(["idle", "no_telemetry"])).sum().alias(USED),
        )
        .join(reported, left_on=Alloc.ResourceId, right_on=Cost.ResourceId, how="left")
    )
    seen = pl.col(_REPORTED).fill_null(False)
    return (
        per_host.group_by(
            pl.col(Alloc.BillingAccountId).alias(CLUSTER), pl.col(Alloc.x_GpuModel).alias(GPU_MODEL)
        )
        .agg(
            pl.col(IDLE).sum(),
            (pl.col(UNREPORTED) + pl.when(seen).then(0.0).otherwise(pl.col(USED))).sum(),
            pl.when(seen).then(pl.col(USED)).otherwise(0.0).sum(),
        )
        .collect()
    )


def cloud_prices(
    store: Store, settings: Settings, period: str, clusters: pl.DataFrame
) -> pl.DataFrame:
    """Per GPU model: the cloud's lowest on-demand price per GPU, and the instance it is for."""
    regions = {
        (str(provider), region)
        for provider, region in store.scan("cost")
        .filter(
            (pl.col(Cost.x_BillingPeriod) == period)
            & (pl.col(Cost.ProviderName) != ONPREM_PROVIDER)
            & (pl.col(Cost.x_GpuCount).fill_null(0) > 0)
        )
        .select(Cost.ProviderName, Cost.RegionId)
        .unique()
        .collect()
        .iter_rows()
    }
    book = PriceBook.load(store.home)
    rows = []
    for model in sorted(set(clusters[GPU_MODEL].drop_nulls())):
        found = cloud_gpu_price(book, model, regions)
        if found is not None:
            price, instance = found
            where = f"{instance.provider} {instance.instance_type} ({instance.region})"
            rows.append({GPU_MODEL: model, CLOUD_RATE: price, CLOUD_INSTANCE: where})
    schema = pl.Schema(
        {GPU_MODEL: pl.String(), CLOUD_RATE: RATE_DTYPE, CLOUD_INSTANCE: pl.String()}
    )
    return pl.DataFrame(rows, schema=schema)


def with_rates(clusters: pl.DataFrame, cloud: pl.DataFrame) -> pl.DataFrame:
    """Each cluster's rates per GPU-hour, and the cloud's price beside them."""

    def per(amount: str, hours: str) -> pl.Expr:
        """A display rate (four places); null where there are no hours to divide by."""
        rate = pl.col(amount).cast(pl.Float64) / pl.col(hours)
        return pl.when(pl.col(hours) > 0).then(rate).cast(RATE_DTYPE)

    return clusters.join(cloud, on=GPU_MODEL, how="left").with_columns(
        per(HARDWARE, GPU_HOURS).alias(HARDWARE_RATE),
        per(ENERGY, GPU_HOURS).alias(ENERGY_RATE),
        per(TOTAL, GPU_HOURS).alias(RATE),
        per(TOTAL, USED).alias(USED_RATE),
    )
