"""**idle**: GPU instances idle for long stretches (nights, weekends, forgotten dev boxes).

Rule: an instance whose whole-instance idle stretches — consecutive buckets in which every GPU on
it had no workload or SM activity under ``thresholds.waste.idle_sm_util``, each stretch at least
``idle_min_stretch_hours`` long (default 4 h) — add up to at least ``idle_min_hours`` in the month
(default 24 h). Saving = those idle hours × the instance's own hourly rate (its bill / its billed
hours): the cost of the hours a stop or a schedule would not have paid. An instance that did no work
at all is a forgotten box (stop it, high confidence); otherwise schedule it (medium).
"""

from __future__ import annotations

from decimal import Decimal

from gpuledger.engine.recommend.finding import Finding, RuleContext, cents, dec, own_rate_source
from gpuledger.engine.recommend.profile import Profile


def idle_findings(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    rules = context.settings.thresholds.recommend
    findings = []
    for profile in profiles:
        rate = profile.resource.hourly
        if rate is None or profile.long_idle_hours < rules.idle_min_hours:
            continue
        idle_hours = min(dec(profile.long_idle_hours), profile.resource.instance_hours)
        saving = cents(idle_hours * rate)
        if saving < context.min_saving:
            continue
        findings.append(_finding(profile, idle_hours, rate, saving, context))
    return findings


def _finding(
    profile: Profile, idle_hours: Decimal, rate: Decimal, saving: Decimal, context: RuleContext
) -> Finding:
    resource = profile.resource
    forgotten = profile.busy_share == 0
    what = f"{resource.resource_id} ({resource.instance_type or resource.gpu_model})"
    if forgotten:
        action = f"Stop {what}: it did no GPU work this month ({idle_hours} idle hours)."
    else:
        action = (
            f"Stop {what} when idle, or schedule it off nights and weekends: "
            f"{profile.idle_stretches} idle stretches, {idle_hours} hours."
        )
    return Finding(
        kind="idle",
        team=profile.team,
        model=profile.model,
        subject=resource.resource_id,
        resource_ids=(resource.resource_id,),
        monthly_cost=cents(resource.cost),
        monthly_saving=saving,
        confidence="high" if forgotten else "medium",
        action=action,
        target="stop" if forgotten else "schedule",
        evidence={
            "idle_hours": str(idle_hours),
            "idle_stretches": profile.idle_stretches,
            "busy_share": round(profile.busy_share, 4),
            "idle_min_hours": context.settings.thresholds.recommend.idle_min_hours,
            "idle_min_stretch_hours": context.settings.thresholds.recommend.idle_min_stretch_hours,
            "idle_sm_util": context.settings.thresholds.waste.idle_sm_util,
            "hourly_rate": str(rate.quantize(dec(0.000001))),
            "price_source": own_rate_source(),
        },
    )
