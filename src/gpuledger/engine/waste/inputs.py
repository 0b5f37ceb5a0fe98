"""What waste and recommendations start from: each GPU instance's bill and its telemetry rows.

Two facts are joined here and nowhere else. From ``cost``: what each GPU instance (``ResourceId``)
cost in the period, how many hours it ran, and so its price per GPU-hour. From ``gpu_usage``: each
row's share of its GPU's bucket, whether it was idle, and the team, model and workload it belongs
to. The rules that read them (``waste.py``, ``recommend_*.py``) never touch the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings, WasteThresholds, canonical_team
from gpuledger.engine.attribution.gpu_hours import NEGATION_LINE_TYPES
from gpuledger.engine.attribution.gpu_weights import prefer_measured
from gpuledger.period import Period
from gpuledger.schema import IDLE_MODEL, UNALLOCATED, UNLABELLED, Cost, Usage
from gpuledger.store.delta import Store

HOUR_UNITS = ("hours", "hour", "hrs", "hr", "h")
# Columns this module adds to usage rows (prefixed so they never collide with schema names).
HELD_S = "_held_seconds"  # this row's share of its GPU's bucket, in seconds
IDLE = "_idle"  # the GPU did no work for this row: no workload, or SM activity under the bar
WORKLOAD = "_workload"
TEAM = "_team"
MODEL = "_model"
SM = "_sm"  # SM activity 0-100 of a busy row; 0 on an idle row


def period_hours(period: str) -> int:
    """How many hours the month ``YYYY-MM`` has."""
    return Period.parse(period).days * 24


@dataclass(frozen=True)
class ResourceCost:
    """One GPU instance's bill for the period."""

    resource_id: str
    provider: str
    region: str | None
    instance_type: str | None
    gpu_model: str | None
    gpu_count: int
    pricing_category: str
    cost: Decimal
    currency: str
    instance_hours: Decimal
    owner: str | None
    model_tag: str | None = None  # the bill's own model and workload tags (config tag keys)
    workload_tag: str | None = None

    @property
    def hourly(self) -> Decimal | None:
        """What one instance-hour cost: the bill divided by the hours it ran."""
        return self.cost / self.instance_hours if self.instance_hours > 0 else None

    @property
    def gpu_hourly(self) -> Decimal | None:
        """What one GPU-hour cost: the hourly price shared evenly over the instance's GPUs."""
        hourly = self.hourly
        return hourly / self.gpu_count if hourly is not None and self.gpu_count else None


def _tag_value(keys: list[str]) -> pl.Expr:
    """The first of these tag keys present on a cost row (the configured team keys, in order)."""
    values = [
        pl.col(Cost.Tags)
        .list.eval(
            pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
        )
        .list.first()
        for key in keys
    ]
    return pl.coalesce(values) if values else pl.lit(None, dtype=pl.String)


def _row_hours() -> pl.Expr:
    """Hours a cost row covers: its consumed quantity when counted in hours, else its span."""
    span = (pl.col(Cost.ChargePeriodEnd) - pl.col(Cost.ChargePeriodStart)).dt.total_seconds()
    return (
        pl.when(pl.col(Cost.ConsumedUnit).str.to_lowercase().is_in(HOUR_UNITS))
        .then(pl.col(Cost.ConsumedQuantity))
        .otherwise(span / 3600)
    )


def resource_costs(store: Store, settings: Settings, period: str) -> dict[str, ResourceCost]:
    """Every GPU instance billed in the period, by ``ResourceId``.

    Instance hours count each charge period of the instance once, as attribution counts its
    GPU-hours (:mod:`gpuledger.engine.attribution.gpu_hours`): a GCP VM's core, memory and GPU
    lines, or a Savings Plan's covered usage and its negation, bill the same hours. A period's
    hours are its longest line's (consumed hours, else its span); negations add none. The sum is
    capped at the month's length.
    """
    basis = settings.reporting.cost_basis
    rows = store.scan("cost").filter(
        (pl.col(Cost.x_BillingPeriod) == period)
        & (pl.col(Cost.ChargeCategory) == "Usage")
        & pl.col(Cost.ResourceId).is_not_null()
        & (pl.col(Cost.x_GpuCount).fill_null(0) > 0)
    )
    billed_time = ~pl.col(Cost.x_LineItemType).is_in(NEGATION_LINE_TYPES).fill_null(False)
    hours = (
        rows.filter(billed_time)
        .group_by(Cost.ResourceId, Cost.ChargePeriodStart, Cost.ChargePeriodEnd)
        .agg(_row_hours().max().alias("hours"))
        .group_by(Cost.ResourceId)
        .agg(pl.col("hours").sum())
    )
    per_sku = rows.group_by(Cost.ResourceId, Cost.SkuId).agg(
        pl.col(basis).sum().alias("cost"),
        pl.first(Cost.ProviderName).alias("provider"),
        pl.col(Cost.RegionId).drop_nulls().first().alias("region"),
        pl.col(Cost.x_InstanceType).drop_nulls().first().alias("instance_type"),
        pl.col(Cost.x_GpuModel).drop_nulls().first().alias("gpu_model"),
        pl.col(Cost.x_GpuCount).max().alias("gpu_count"),
        pl.first(Cost.BillingCurrency).alias("currency"),
        _tag_value(settings.tags.team).drop_nulls().first().alias("owner"),
        _tag_value(settings.tags.model).drop_nulls().first().alias("model_tag"),
        _tag_value(settings.tags.workload).drop_nulls().first().alias("workload_tag"),
        pl.col(Cost.PricingCategory).sort_by(pl.col(basis), descending=True).first().alias("pc"),
    )
    frame = (
        per_sku.sort("cost", descending=True)
        .group_by(Cost.ResourceId)
        .agg(
            pl.col("cost").sum(),
            *(
                pl.col(c).drop_nulls().first()
                for c in (
                    "provider",
                    "region",
                    "instance_type",
                    "gpu_model",
                    "currency",
                    "owner",
                    "model_tag",
                    "workload_tag",
                )
            ),
            pl.col("gpu_count").max(),
            pl.col("pc").drop_nulls().first(),
        )
        .join(hours, on=Cost.ResourceId, how="left")
        .collect()
    )
    cap = Decimal(period_hours(period))
    return {row[Cost.ResourceId]: _resource(row, settings, cap) for row in frame.to_dicts()}


def _resource(row: Mapping[str, object], settings: Settings, cap: Decimal) -> ResourceCost:
    hours = Decimal(str(row["hours"] or 0))
    return ResourceCost(
        resource_id=str(row[Cost.ResourceId]),
        provider=str(row["provider"]),
        region=row["region"],  # type: ignore[arg-type]
        instance_type=row["instance_type"],  # type: ignore[arg-type]
        gpu_model=row["gpu_model"],  # type: ignore[arg-type]
        gpu_count=int(row["gpu_count"] or 0),  # type: ignore[call-overload]
        pricing_category=str(row["pc"] or "Standard"),
        cost=Decimal(row["cost"]),  # type: ignore[arg-type]
        currency=str(row["currency"] or settings.reporting.currency),
        instance_hours=min(hours, cap),
        owner=canonical_team(settings, row["owner"]),  # type: ignore[arg-type]
        model_tag=row["model_tag"],  # type: ignore[arg-type]
        workload_tag=row["workload_tag"],  # type: ignore[arg-type]
    )


def usage_rows(
    store: Store, settings: Settings, period: str, owners: Mapping[str, str | None]
) -> pl.LazyFrame:
    """The period's telemetry, each row with its held seconds, idle flag, team, model, workload.

    A GPU's bucket is shared by the rows on it in proportion to their active seconds (evenly when
    none was active), so the held seconds of one GPU add up to its bucket length exactly once. A
    row is idle when it has no workload or its SM activity is under ``idle_sm_util``. Work without
    a team label, and idle time, belong to the instance's owner (its cost tag, else the team that
    used it most), else to "(unallocated)".
    """
    start, end = Period.parse(period).bounds()
    rows = prefer_measured(store.scan("gpu_usage"), start, end)
    return label_rows(rows, settings, owners)


def label_rows(
    rows: pl.LazyFrame, settings: Settings, owners: Mapping[str, str | None]
) -> pl.LazyFrame:
    """The pure part of :func:`usage_rows`, for frames already cut to the period."""
    thresholds: WasteThresholds = settings.thresholds.waste
    bucket = [Usage.gpu_uuid, Usage.bucket_start]
    total_active = pl.col(Usage.active_seconds).sum().over(bucket)
    workload = pl.coalesce(Usage.job, Usage.pod, Usage.container, Usage.pid_command)
    rows = rows.with_columns(
        workload.alias(WORKLOAD),
        pl.when(total_active > 0)
        .then(pl.col(Usage.bucket_seconds) * pl.col(Usage.active_seconds) / total_active)
        .otherwise(pl.col(Usage.bucket_seconds) / pl.len().over(bucket))
        .alias(HELD_S),
    ).with_columns(
        (
            pl.col(WORKLOAD).is_null()
            | (pl.col(Usage.sm_util) < thresholds.idle_sm_util).fill_null(False)
        ).alias(IDLE)
    )
    teams = rows.select(Usage.team).unique().collect()[Usage.team].to_list()
    canonical = {t: canonical_team(settings, t) for t in teams if t is not None}
    owner_map = _owners(rows, owners, canonical)
    owner = pl.col(Usage.ResourceId).replace_strict(owner_map, default=None, return_dtype=pl.String)
    return rows.with_columns(
        pl.coalesce(
            pl.col(Usage.team).replace_strict(canonical, default=None, return_dtype=pl.String),
            owner,
            pl.lit(UNALLOCATED),
        ).alias(TEAM),
        pl.when(pl.col(WORKLOAD).is_null())
        .then(pl.lit(IDLE_MODEL))
        .otherwise(pl.col(Usage.model).fill_null(UNLABELLED))
        .alias(MODEL),
        pl.col(WORKLOAD).fill_null(IDLE_MODEL),
        pl.when(pl.col(IDLE)).then(0.0).otherwise(pl.col(Usage.sm_util)).alias(SM),
    )


def _owners(
    rows: pl.LazyFrame, tagged: Mapping[str, str | None], canonical: Mapping[str, str | None]
) -> dict[str, str]:
    """Instance → owning team: its cost tag, else the labelled team that held it longest."""
    used = (
        rows.filter(pl.col(Usage.team).is_not_null() & pl.col(Usage.ResourceId).is_not_null())
        .group_by(Usage.ResourceId, Usage.team)
        .agg(pl.col(HELD_S).sum())
        .sort(HELD_S, Usage.team, descending=[True, False])
        .group_by(Usage.ResourceId, maintain_order=True)
        .first()
        .collect()
    )
    owners = {row[Usage.ResourceId]: canonical.get(row[Usage.team]) for row in used.to_dicts()}
    owners.update({rid: team for rid, team in tagged.items() if team})
    return {rid: team for rid, team in owners.items() if team}
