"""**commit**: a steady GPU baseline running on demand, to be covered by a commitment.

Rule, per (team, provider, region, instance type) over on-demand (``Standard``) instances that do
not run interruptible work and, where telemetry exists, were busy at least the same share of the
month (an idle box is for the idle rule to stop, not to commit to): the baseline is the number of instances billed at least
``commit_min_baseline_share`` (default 70 %) of the month's hours. A commitment (Savings Plan,
committed-use discount, reservation) for that many instances all month costs
baseline × hours in the month × their on-demand rate × (1 − ``commit_discount``, default 30 %).
Saving = what those instances cost on demand − that commitment. Break-even utilization is
1 − discount: a committed instance must run at least that share of the hours to pay off.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from gpuledger.engine.recommend.finding import Finding, RuleContext, cents, dec, own_rate_source
from gpuledger.engine.recommend.profile import Profile
from gpuledger.engine.recommend.spot import interruptible

Family = tuple[str, str, str, str]  # team, provider, region, instance type


def _steady(profiles: list[Profile], context: RuleContext) -> dict[Family, list[Profile]]:
    share = dec(context.settings.thresholds.recommend.commit_min_baseline_share)
    floor = share * context.hours_in_period
    families: dict[Family, list[Profile]] = defaultdict(list)
    for profile in profiles:
        resource = profile.resource
        if resource.pricing_category != "Standard" or not resource.instance_type:
            continue
        if interruptible(profile, context)[0] or resource.instance_hours < floor:
            continue
        if profile.held_gpu_hours > 0 and dec(profile.busy_share) < share:
            continue  # billed all month but its telemetry shows it mostly idle: stop, not commit
        key = (profile.team, resource.provider, resource.region or "", resource.instance_type)
        families[key].append(profile)
    return families


def commit_findings(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    discount = dec(context.settings.thresholds.recommend.commit_discount)
    findings = []
    for family, members in sorted(_steady(profiles, context).items()):
        cost = sum((p.resource.cost for p in members), Decimal(0))
        hours = sum((p.resource.instance_hours for p in members), Decimal(0))
        rate = cost / hours
        committed = len(members) * context.hours_in_period * rate * (1 - discount)
        saving = cents(cost - committed)
        if saving >= context.min_saving:
            findings.append(_finding(family, members, cost, rate, saving, discount, context))
    return findings


def _finding(
    family: Family,
    members: list[Profile],
    cost: Decimal,
    rate: Decimal,
    saving: Decimal,
    discount: Decimal,
    context: RuleContext,
) -> Finding:
    team, provider, region, instance_type = family
    full = all(p.resource.instance_hours >= context.hours_in_period * dec(0.95) for p in members)
    return Finding(
        kind="commit",
        team=team,
        model=members[0].model if len({p.model for p in members}) == 1 else None,
        subject=f"{provider}/{region}/{instance_type}",
        resource_ids=tuple(sorted(p.resource_id for p in members)),
        monthly_cost=cents(cost),
        monthly_saving=saving,
        confidence="high" if full else "medium",
        action=(
            f"Commit to {len(members)}× {instance_type} in {region} for one year "
            f"(Savings Plan, committed-use discount or reservation at about {discount:.0%} off); "
            f"it pays off while they run at least {1 - discount:.0%} of the hours."
        ),
        target=f"commit:{len(members)}",
        evidence={
            "baseline_instances": len(members),
            "billed_hours": {p.resource_id: str(p.resource.instance_hours) for p in members},
            "hours_in_period": context.hours_in_period,
            "on_demand_hourly": str(rate.quantize(dec(0.000001))),
            "price_source": own_rate_source(),
            "commit_discount": str(discount),
            "discount_source": "config thresholds.recommend.commit_discount",
            "break_even_utilization": str(1 - discount),
            "commit_min_baseline_share": context.settings.thresholds.recommend.commit_min_baseline_share,
        },
    )
