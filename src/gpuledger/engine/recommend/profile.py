"""One profile per GPU instance: its bill joined with what its telemetry says about its use.

Each recommendation rule (``engine/recommend/<kind>.py``) reads these profiles and nothing else, so a rule
is a few comparisons and one saving formula, testable on hand-built profiles or hand-built stores.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.recommend.owners import Ownership
from gpuledger.engine.waste.inputs import (
    HELD_S,
    IDLE,
    MODEL,
    SM,
    TEAM,
    WORKLOAD,
    ResourceCost,
    period_hours,
)
from gpuledger.schema import IDLE_MODEL, UNALLOCATED, UNLABELLED, Usage

GIB = 2**30
_PARAMS = re.compile(r"(?:(\d+)x)?(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Profile:
    """A GPU instance in one month: what it cost and how it was used."""

    resource: ResourceCost
    team: str  # the allocation's owner (see ``owners.py``); bill tag or telemetry if unattributed
    model: str | None  # the model that held its busy time longest
    workloads: tuple[str, ...]  # every workload seen on it, busiest first
    held_gpu_hours: float
    idle_gpu_hours: float
    gpus_seen: int
    busy_gpus: int  # GPUs idle less than ``rightsize_idle_gpu_share`` of their hours
    p95_sm: float | None  # over busy rows
    mean_sm: float | None  # over busy rows, weighted by held time
    peak_mem_gib: float | None  # over busy rows
    mem_capacity_gib: float | None
    long_idle_hours: float  # hours in whole-instance idle stretches ≥ ``idle_min_stretch_hours``
    idle_stretches: int
    busy_share: float  # share of the month's hours with work on the instance
    jobs: int  # distinct job labels that ran on it
    billed_to: tuple[tuple[str, Decimal], ...] = ()  # allocated cost per team, largest first

    @property
    def resource_id(self) -> str:
        return self.resource.resource_id

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the labels are matched against: workloads, model, the bill's own tags."""
        tags = (self.model, self.resource.model_tag, self.resource.workload_tag)
        return (*self.workloads, *(name for name in tags if name))


def labelled(names: tuple[str, ...], patterns: list[str]) -> bool:
    """Whether any workload or model name contains one of the configured label fragments."""
    return any(p.lower() in name.lower() for name in names for p in patterns)


def model_params_b(model: str | None) -> float | None:
    """Billions of parameters from a model name ("llama-3.1-70b" → 70, "mixtral-8x7b" → 56)."""
    if not model:
        return None
    best = None
    for experts, size in _PARAMS.findall(model):
        value = float(size) * (int(experts) if experts else 1)
        best = value if best is None else max(best, value)
    return best


def _per_gpu(rows: pl.LazyFrame, spare_share: float) -> pl.LazyFrame:
    held_idle = pl.col(HELD_S).filter(pl.col(IDLE)).sum()
    return (
        rows.group_by(Usage.ResourceId, Usage.gpu_uuid)
        .agg((held_idle / pl.col(HELD_S).sum()).alias("idle_share"))
        .group_by(Usage.ResourceId)
        .agg(
            pl.len().alias("gpus_seen"),
            (pl.col("idle_share") < spare_share).sum().alias("busy_gpus"),
        )
    )


def _busy_stats(rows: pl.LazyFrame) -> pl.LazyFrame:
    busy = rows.filter(~pl.col(IDLE))
    return busy.group_by(Usage.ResourceId).agg(
        pl.col(SM).quantile(0.95, "linear").alias("p95_sm"),
        ((pl.col(SM) * pl.col(HELD_S)).sum() / pl.col(HELD_S).sum()).alias("mean_sm"),
        (pl.col(Usage.mem_used_bytes).max() / GIB).alias("peak_mem_gib"),
        pl.col(Usage.job).drop_nulls().n_unique().alias("jobs"),
    )


def _totals(rows: pl.LazyFrame) -> pl.LazyFrame:
    held_h = pl.col(HELD_S) / 3600
    return rows.group_by(Usage.ResourceId).agg(
        held_h.sum().alias("held_gpu_hours"),
        held_h.filter(pl.col(IDLE)).sum().alias("idle_gpu_hours"),
        (pl.col(Usage.mem_total_bytes).max() / GIB).alias("mem_capacity_gib"),
    )


def _stretches(rows: pl.LazyFrame, min_hours: float, hours: int) -> pl.LazyFrame:
    """Whole-instance idle stretches: consecutive buckets in which every GPU of it was idle.

    A missing bucket (no telemetry: the instance was stopped) ends a stretch; only stretches of
    at least ``min_hours`` count, so a pause between two jobs is not called idle capacity.
    """
    buckets = (
        rows.group_by(Usage.ResourceId, Usage.bucket_start)
        .agg(pl.col(IDLE).all().alias("idle"), pl.col(Usage.bucket_seconds).max().alias("secs"))
        .sort(Usage.ResourceId, Usage.bucket_start)
    )
    expected = pl.col(Usage.bucket_start).shift(1) + pl.duration(seconds=pl.col("secs").shift(1))
    breaks = (
        (pl.col(Usage.bucket_start) != expected).fill_null(True)
        | (pl.col("idle") != pl.col("idle").shift(1)).fill_null(True)
    ).over(Usage.ResourceId)
    runs = (
        buckets.with_columns(breaks.cum_sum().over(Usage.ResourceId).alias("run"))
        .group_by(Usage.ResourceId, "run")
        .agg(pl.col("idle").first(), (pl.col("secs").sum() / 3600).alias("hours"))
    )
    long_idle = pl.col("idle") & (pl.col("hours") >= min_hours)
    return runs.group_by(Usage.ResourceId).agg(
        pl.col("hours").filter(long_idle).sum().alias("long_idle_hours"),
        long_idle.sum().alias("idle_stretches"),
        (pl.col("hours").filter(~pl.col("idle")).sum() / hours).alias("busy_share"),
    )


def _owners_of_busy_time(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per instance: the team and model that held its busy time longest, and every workload."""
    busy = rows.filter(~pl.col(IDLE))
    ranked = busy.group_by(Usage.ResourceId, TEAM, MODEL, WORKLOAD).agg(pl.col(HELD_S).sum())
    return (
        ranked.sort(HELD_S, WORKLOAD, descending=[True, False])
        .group_by(Usage.ResourceId, maintain_order=True)
        .agg(
            pl.col(TEAM).first().alias("team"),
            pl.col(MODEL).first().alias("model"),
            pl.col(WORKLOAD).unique(maintain_order=True).alias("workloads"),
        )
    )


def usage_stats(
    rows: pl.LazyFrame, settings: Settings, period: str
) -> dict[str | None, dict[str, object]]:
    """What the telemetry says about each instance (``ResourceId`` → its figures).

    Every figure is computed within one instance, so the stats of telemetry taken a slice of
    instances at a time (:func:`gpuledger.engine.waste.compute.usage_slices`) merge by plain update.
    """
    rules = settings.thresholds.recommend
    parts = [
        _totals(rows),
        _per_gpu(rows, rules.rightsize_idle_gpu_share),
        _busy_stats(rows),
        _stretches(rows, rules.idle_min_stretch_hours, period_hours(period)),
        _owners_of_busy_time(rows),
    ]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, on=Usage.ResourceId, how="left")
    return {row[Usage.ResourceId]: row for row in joined.collect().to_dicts()}


def profiles_from(
    stats: Mapping[str | None, dict[str, object]],
    resources: dict[str, ResourceCost],
    owners: Mapping[str, Ownership],
) -> list[Profile]:
    """A profile for every billed GPU instance from its usage stats (none → empty use figures).

    Its team is the allocation's owner of the instance (``owners``). A period not attributed yet
    has no owners: then the bill's team tag, else the team that held its busy time longest.
    """
    return [
        _profile(resource, stats.get(rid, {}), owners.get(rid))
        for rid, resource in sorted(resources.items())
    ]


def _team(resource: ResourceCost, row: dict[str, object], owner: Ownership | None) -> str:
    if owner is not None:
        return owner.team
    return str(resource.owner or row.get("team") or UNALLOCATED)


def _profile(resource: ResourceCost, row: dict[str, object], owner: Ownership | None) -> Profile:
    def number(key: str) -> float:
        return float(row.get(key) or 0.0)  # type: ignore[arg-type]

    def maybe(key: str) -> float | None:
        value = row.get(key)
        return None if value is None else float(value)  # type: ignore[arg-type]

    model = row.get("model")
    return Profile(
        resource=resource,
        team=_team(resource, row, owner),
        model=resource.model_tag if model in (None, IDLE_MODEL, UNLABELLED) else str(model),
        workloads=tuple(row.get("workloads") or ()),  # type: ignore[arg-type]
        held_gpu_hours=number("held_gpu_hours"),
        idle_gpu_hours=number("idle_gpu_hours"),
        gpus_seen=int(number("gpus_seen")),
        busy_gpus=int(number("busy_gpus")),
        p95_sm=maybe("p95_sm"),
        mean_sm=maybe("mean_sm"),
        peak_mem_gib=maybe("peak_mem_gib"),
        mem_capacity_gib=maybe("mem_capacity_gib"),
        long_idle_hours=number("long_idle_hours"),
        idle_stretches=int(number("idle_stretches")),
        busy_share=number("busy_share"),
        jobs=int(number("jobs")),
        billed_to=owner.costs if owner is not None else (),
    )
