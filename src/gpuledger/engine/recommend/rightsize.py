"""**rightsize**: on-demand GPU instances that a smaller GPU, or fewer GPUs, would carry.

Rule, for an instance billed on demand with at least one busy GPU (GPUs idle at least
``rightsize_idle_gpu_share`` of their hours, default 90 %, are spare):

- *fewer GPUs*: some GPUs are spare → an instance of the same GPU model with at least as many GPUs
  as are busy;
- *a smaller GPU*: p95 SM activity under ``rightsize_p95_sm_util`` (default 40 %) and peak memory
  under ``rightsize_memory_fill`` (default 50 %) of the GPU → a GPU type whose memory holds the
  observed peak plus ``thresholds.waste.memory_headroom`` (default 20 %) and whose dense throughput
  (``data/gpu_throughput.csv``) keeps today's p95 load under ``rightsize_target_sm_util`` (70 %):
  p95 SM × today's TFLOPS ≤ 70 × the new GPU's TFLOPS, one new GPU per busy GPU.

The cheapest such instance in the same provider and region (price table) is proposed.
Saving = the instance's bill − its billed hours × the candidate's on-demand price.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from importlib import resources

import polars as pl

from gpuledger.engine.recommend.finding import Finding, RuleContext, cents
from gpuledger.engine.recommend.profile import Profile
from gpuledger.prices.book import InstancePrice


@cache
def gpu_throughput() -> dict[str, float]:
    """Dense BF16/FP16 tensor TFLOPS per GPU model, from the bundled datasheet table."""
    path = resources.files("gpuledger") / "data" / "gpu_throughput.csv"
    with path.open("rb") as handle:
        frame = pl.read_csv(handle.read())
    return dict(zip(frame["gpu_model"], frame["dense_bf16_tflops"].cast(pl.Float64), strict=True))


def _underused(profile: Profile, context: RuleContext) -> bool:
    rules = context.settings.thresholds.recommend
    if profile.p95_sm is None or profile.peak_mem_gib is None or not profile.mem_capacity_gib:
        return False
    fill = profile.peak_mem_gib / profile.mem_capacity_gib
    return profile.p95_sm < rules.rightsize_p95_sm_util and fill < rules.rightsize_memory_fill


def _fits(profile: Profile, candidate: InstancePrice, context: RuleContext) -> bool:
    """Whether the candidate holds the observed work (see the module docstring)."""
    resource = profile.resource
    if candidate.gpu_count < profile.busy_gpus or candidate.instance_type == resource.instance_type:
        return False
    if candidate.gpu_model == resource.gpu_model:
        # fewer GPUs only when telemetry saw every GPU: an unreported GPU is not a spare one
        every_gpu_seen = profile.gpus_seen == resource.gpu_count
        return every_gpu_seen and candidate.gpu_count < resource.gpu_count
    if not _underused(profile, context):
        return False
    headroom = context.settings.thresholds.waste.memory_headroom
    if candidate.gpu_memory_gib < (profile.peak_mem_gib or 0.0) * (1 + headroom):
        return False
    speeds = gpu_throughput()
    now, then = speeds.get(resource.gpu_model or ""), speeds.get(candidate.gpu_model or "")
    if now is None or then is None or profile.p95_sm is None:
        return False
    ceiling = context.settings.thresholds.recommend.rightsize_target_sm_util
    return profile.p95_sm * now <= ceiling * then  # each busy GPU's work moves to one new GPU


def rightsize_findings(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    findings = []
    for profile in profiles:
        resource = profile.resource
        if resource.pricing_category != "Standard" or profile.busy_gpus == 0:
            continue
        candidates = [
            c
            for c in context.prices.in_region(resource.provider, resource.region)
            if _fits(profile, c, context)
        ]
        if not candidates:
            continue
        best = min(candidates, key=lambda c: (c.on_demand or Decimal(0), c.instance_type))
        assert best.on_demand is not None
        saving = cents(resource.cost - resource.instance_hours * best.on_demand)
        if saving >= context.min_saving:
            findings.append(_finding(profile, best, saving, context))
    return findings


def _finding(
    profile: Profile, best: InstancePrice, saving: Decimal, context: RuleContext
) -> Finding:
    resource = profile.resource
    fewer = best.gpu_model == resource.gpu_model
    rules = context.settings.thresholds.recommend
    return Finding(
        kind="rightsize",
        team=profile.team,
        model=profile.model,
        subject=resource.resource_id,
        resource_ids=(resource.resource_id,),
        monthly_cost=cents(resource.cost),
        monthly_saving=saving,
        confidence="low" if best.approximate and not fewer else "medium",
        action=(
            f"Move {resource.resource_id} from {resource.instance_type} "
            f"({resource.gpu_count}× {resource.gpu_model}) to {best.instance_type} "
            f"({best.gpu_count}× {best.gpu_model})"
            + (": some of its GPUs sit idle." if fewer else ": its GPUs are underused.")
        ),
        target=best.instance_type,
        evidence={
            "busy_gpus": profile.busy_gpus,
            "gpu_count": resource.gpu_count,
            "p95_sm_util": None if profile.p95_sm is None else round(profile.p95_sm, 2),
            "peak_mem_gib": None
            if profile.peak_mem_gib is None
            else round(profile.peak_mem_gib, 2),
            "mem_capacity_gib": profile.mem_capacity_gib,
            "thresholds": {
                "rightsize_p95_sm_util": rules.rightsize_p95_sm_util,
                "rightsize_memory_fill": rules.rightsize_memory_fill,
                "rightsize_idle_gpu_share": rules.rightsize_idle_gpu_share,
                "rightsize_target_sm_util": rules.rightsize_target_sm_util,
                "memory_headroom": context.settings.thresholds.waste.memory_headroom,
            },
            "billed_hours": str(resource.instance_hours),
            "price": best.evidence(),
        },
    )
