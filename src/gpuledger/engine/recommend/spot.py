"""**spot**: interruptible work (training, fine-tuning, batch) on on-demand or committed GPUs.

Rule: an instance billed on demand (``Standard``) or under a commitment (``Committed``) whose work
is interruptible — a workload or model name containing one of ``interruptible_labels``, or at least
``spot_min_jobs`` distinct jobs (runs that start and stop) — and that serves no inference label.
Saving = its bill − the same billed hours × the region's spot price × (1 +
``spot_interruption_overhead``, default 10 %: work redone after an interruption, checkpoint time).
Committed capacity is paid whether used or not, so there the saving is realized only once the
commitment comes up for renewal; those findings say so and carry low confidence at best.
The spot price comes from the price table (bundled, or refreshed from EC2 spot price history / the
GCP Cloud Catalog) and is cited with its source and date.
"""

from __future__ import annotations

from decimal import Decimal

from gpuledger.engine.recommend.finding import Finding, RuleContext, cents, dec
from gpuledger.engine.recommend.profile import Profile, labelled
from gpuledger.prices.book import InstancePrice

SPOT_ELIGIBLE = ("Standard", "Committed")


def interruptible(profile: Profile, context: RuleContext) -> tuple[bool, str]:
    """Whether the instance's work can run on spot, and why (label, behaviour, or neither)."""
    rules = context.settings.thresholds.recommend
    names = profile.names
    if labelled(names, rules.inference_labels):
        return False, "serves inference"
    if labelled(names, rules.interruptible_labels):
        return True, "label"
    if profile.jobs >= rules.spot_min_jobs:
        return True, "behaviour"
    return False, "steady"


def spot_findings(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    findings = []
    for profile in profiles:
        resource = profile.resource
        if resource.pricing_category not in SPOT_ELIGIBLE or not resource.instance_type:
            continue
        ok, why = interruptible(profile, context)
        price = context.prices.lookup(resource.provider, resource.region, resource.instance_type)
        if not ok or price is None or price.spot is None:
            continue
        overhead = dec(context.settings.thresholds.recommend.spot_interruption_overhead)
        spot_cost = resource.instance_hours * price.spot * (1 + overhead)
        saving = cents(resource.cost - spot_cost)
        if saving >= context.min_saving:
            findings.append(_finding(profile, price, why, overhead, saving))
    return findings


def _confidence(why: str, price: InstancePrice, committed: bool) -> str:
    """High for labelled work priced from a quoted spot price; lower for behaviour, an
    approximate price; low whenever a commitment stands between the finding and the saving."""
    if committed:
        return "low"
    score = (2 if why == "label" else 1) - price.approximate
    return ("low", "medium", "high")[max(score, 0)]


def _work(profile: Profile) -> str:
    """The work to move, as a reader would name it: a few workloads, or the runs of a model."""
    if profile.jobs > 3 and profile.model:
        return f"the {profile.jobs} {profile.model} runs"
    if profile.workloads:
        return ", ".join(profile.workloads[:3])
    return f"the {profile.model} jobs" if profile.model else "its jobs"


def _finding(
    profile: Profile, price: InstancePrice, why: str, overhead: Decimal, saving: Decimal
) -> Finding:
    resource = profile.resource
    committed = resource.pricing_category == "Committed"
    work = _work(profile)
    return Finding(
        kind="spot",
        team=profile.team,
        model=profile.model,
        subject=resource.resource_id,
        resource_ids=(resource.resource_id,),
        monthly_cost=cents(resource.cost),
        monthly_saving=saving,
        confidence=_confidence(why, price, committed),
        action=(
            f"Run {work} on spot {resource.instance_type} in {resource.region} with "
            + (
                "checkpointing once the commitment that covers it comes up for renewal."
                if committed
                else "checkpointing instead of on-demand capacity."
            )
        ),
        target=f"spot:{resource.instance_type}",
        evidence={
            "interruptible_by": why,
            "workloads": list(profile.workloads),
            "jobs": profile.jobs,
            "pricing_category": resource.pricing_category,
            "billed_hours": str(resource.instance_hours),
            "spot_hourly": str(price.spot),
            "interruption_overhead": str(overhead),
            "price": price.evidence(),
        },
    )
