"""**placement**: move steady cloud GPU work onto an on-prem cluster's idle capacity, or move work
off an on-prem cluster whose used GPU-hours cost more than the cloud's.

The on-prem hosts of one GPU model form a pool. Over the period:

* pool cost ``C`` (the hosts' bill: amortized hardware, support, colocation, energy), GPU-hours
  ``G`` (GPUs × billed hours), used GPU-hours ``U`` (telemetry: held − idle), idle capacity
  ``I = G − U``; rate per GPU-hour ``r = C / G``, per *used* GPU-hour ``u = C / U``;
* cloud price ``p``: the lowest on-demand price per GPU of an instance with the same GPU, in the
  price book, among the regions the company's cloud GPU instances run in.

**To on-prem** (target ``onprem:<GPU>``): a cloud instance of the pool's GPU model, on demand
(PricingCategory ``Standard``), with work in at least ``[thresholds.recommend] placement_min_busy_share`` of the month's hours,
whose used GPU-hours ``W`` fit the idle capacity still free and cost more per GPU-hour on the
cloud (its bill / ``W``) than ``r``. Saving = its bill − ``W × r``: the cloud bill goes and the
work is charged at the pool's full rate (conservative: the pool's hardware and colocation are
paid already, and only energy would grow). Largest saving first, each taking ``W`` of ``I``.
Confidence medium.

**Off on-prem** (target ``cloud:<instance type>``): ``u > p``. Saving = ``C − U × p``: what the
pool costs beyond renting its used GPU-hours on demand. It only materializes if the cluster's
cost goes away (hardware resold, support and colocation ended): confidence low.

The other rules price cloud instances only; this is the one that reads on-prem hosts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from gpuledger.engine.recommend.finding import Finding, RuleContext, cents, dec
from gpuledger.engine.recommend.profile import Profile
from gpuledger.prices.book import InstancePrice, PriceBook

ONPREM_PROVIDER: Final = "On-premises"  # the ProviderName `ingest onprem` writes
ON_DEMAND: Final = "Standard"
RATE_PLACES: Final = Decimal("0.0001")


def is_onprem(profile: Profile) -> bool:
    return profile.resource.provider == ONPREM_PROVIDER


@dataclass(frozen=True)
class Pool:
    """The on-prem hosts of one GPU model in the period."""

    gpu_model: str
    hosts: tuple[Profile, ...]
    cost: Decimal
    gpu_hours: Decimal
    used_gpu_hours: Decimal

    @property
    def idle_gpu_hours(self) -> Decimal:
        return max(self.gpu_hours - self.used_gpu_hours, Decimal(0))

    @property
    def rate(self) -> Decimal | None:
        """Cost per GPU-hour, used or not."""
        return self.cost / self.gpu_hours if self.gpu_hours > 0 else None

    @property
    def used_rate(self) -> Decimal | None:
        """Cost per GPU-hour that did work."""
        return self.cost / self.used_gpu_hours if self.used_gpu_hours > 0 else None

    @property
    def team(self) -> str:
        """The team of the costliest host (ties by host name)."""
        return min(self.hosts, key=lambda p: (-p.resource.cost, p.resource_id)).team


def used_gpu_hours(profile: Profile) -> Decimal:
    return max(dec(profile.held_gpu_hours) - dec(profile.idle_gpu_hours), Decimal(0))


def onprem_pools(profiles: list[Profile]) -> list[Pool]:
    """The period's on-prem pools, by GPU model."""
    by_model: dict[str, list[Profile]] = defaultdict(list)
    for profile in profiles:
        if is_onprem(profile) and profile.resource.gpu_model:
            by_model[profile.resource.gpu_model].append(profile)
    return [
        Pool(
            gpu_model=model,
            hosts=tuple(hosts),
            cost=sum((p.resource.cost for p in hosts), Decimal(0)),
            gpu_hours=sum(
                (p.resource.gpu_count * p.resource.instance_hours for p in hosts), Decimal(0)
            ),
            used_gpu_hours=sum((used_gpu_hours(p) for p in hosts), Decimal(0)),
        )
        for model, hosts in sorted(by_model.items())
    ]


def cloud_gpu_price(
    prices: PriceBook, gpu_model: str, regions: set[tuple[str, str | None]]
) -> tuple[Decimal, InstancePrice] | None:
    """The lowest on-demand price per GPU of ``gpu_model`` in ``regions`` (provider, region),
    with the instance it comes from; ties by provider, region and instance type."""
    offers = [
        (price.on_demand / price.gpu_count, price)
        for provider, region in regions
        for price in prices.in_region(provider, region)
        if price.gpu_model == gpu_model and price.on_demand is not None
    ]
    if not offers:
        return None
    return min(offers, key=lambda o: (o[0], o[1].provider, o[1].region, o[1].instance_type))


def cloud_regions(profiles: list[Profile]) -> set[tuple[str, str | None]]:
    return {(p.resource.provider, p.resource.region) for p in profiles if not is_onprem(p)}


def placement_findings(profiles: list[Profile], context: RuleContext) -> list[Finding]:
    findings = []
    regions = cloud_regions(profiles)
    for pool in onprem_pools(profiles):
        findings += _to_onprem(pool, profiles, context)
        cloud = cloud_gpu_price(context.prices, pool.gpu_model, regions)
        if cloud is not None:
            findings += _off_onprem(pool, *cloud, context)
    return findings


def _to_onprem(pool: Pool, profiles: list[Profile], context: RuleContext) -> list[Finding]:
    rate = pool.rate
    if rate is None:
        return []
    min_busy_share = context.settings.thresholds.recommend.placement_min_busy_share
    candidates = []
    for profile in profiles:
        resource = profile.resource
        work = used_gpu_hours(profile)
        if (
            is_onprem(profile)
            or resource.gpu_model != pool.gpu_model
            or resource.pricing_category != ON_DEMAND
            or profile.busy_share < min_busy_share
            or work <= 0
        ):
            continue
        saving = cents(resource.cost - work * rate)
        if saving >= context.min_saving:
            candidates.append((saving, profile, work))
    free = pool.idle_gpu_hours
    findings = []
    for saving, profile, work in sorted(candidates, key=lambda c: (-c[0], c[1].resource_id)):
        if work > free:
            continue
        free -= work
        findings.append(_to_onprem_finding(pool, profile, work, rate, saving, min_busy_share))
    return findings


def _to_onprem_finding(
    pool: Pool,
    profile: Profile,
    work: Decimal,
    rate: Decimal,
    saving: Decimal,
    min_busy_share: float,
) -> Finding:
    resource = profile.resource
    cloud_rate = resource.cost / work
    hosts = ", ".join(p.resource_id for p in pool.hosts)
    return Finding(
        kind="placement",
        team=profile.team,
        model=profile.model,
        subject=resource.resource_id,
        resource_ids=(resource.resource_id,),
        monthly_cost=cents(resource.cost),
        monthly_saving=saving,
        confidence="medium",
        action=(
            f"Move the steady work on {resource.resource_id} ({resource.instance_type}, "
            f"{work.quantize(Decimal('0.1'))} {pool.gpu_model} GPU-hours) to the on-prem "
            f"{pool.gpu_model} hosts ({hosts}): {cents(rate)} per GPU-hour there against "
            f"{cents(cloud_rate)} on this instance, and "
            f"{pool.idle_gpu_hours.quantize(Decimal('0.1'))} GPU-hours "
            "of that capacity sat idle."
        ),
        target=f"onprem:{pool.gpu_model}",
        evidence={
            "direction": "to_onprem",
            "used_gpu_hours": str(work.quantize(RATE_PLACES)),
            "busy_share": round(profile.busy_share, 4),
            "min_busy_share": min_busy_share,
            "cloud_rate_per_used_gpu_hour": str(cloud_rate.quantize(RATE_PLACES)),
            **_pool_evidence(pool),
        },
    )


def _off_onprem(
    pool: Pool, price: Decimal, instance: InstancePrice, context: RuleContext
) -> list[Finding]:
    used_rate = pool.used_rate
    if used_rate is None or used_rate <= price:
        return []
    saving = cents(pool.cost - pool.used_gpu_hours * price)
    if saving < context.min_saving:
        return []
    ids = tuple(p.resource_id for p in pool.hosts)
    return [
        Finding(
            kind="placement",
            team=pool.team,
            model=None,
            subject=f"onprem:{pool.gpu_model}:{','.join(ids)}",
            resource_ids=ids,
            monthly_cost=cents(pool.cost),
            monthly_saving=saving,
            confidence="low",
            action=(
                f"Move the work off the on-prem {pool.gpu_model} hosts ({', '.join(ids)}): a used "
                f"GPU-hour cost {cents(used_rate)} there, on-demand {instance.instance_type} in "
                f"{instance.region} costs {cents(price)} per GPU-hour. The saving needs the "
                "cluster's cost to go: hardware resold, support and colocation ended."
            ),
            target=f"cloud:{instance.instance_type}",
            evidence={
                "direction": "off_onprem",
                "cloud_price_per_gpu_hour": str(price.quantize(RATE_PLACES)),
                "cloud_price": instance.evidence(),
                **_pool_evidence(pool),
            },
        )
    ]


def _pool_evidence(pool: Pool) -> dict[str, object]:
    rate, used_rate = pool.rate, pool.used_rate
    return {
        "onprem_gpu_model": pool.gpu_model,
        "onprem_hosts": [p.resource_id for p in pool.hosts],
        "onprem_cost": str(cents(pool.cost)),
        "onprem_gpu_hours": str(pool.gpu_hours.quantize(RATE_PLACES)),
        "onprem_used_gpu_hours": str(pool.used_gpu_hours.quantize(RATE_PLACES)),
        "onprem_rate_per_gpu_hour": None if rate is None else str(rate.quantize(RATE_PLACES)),
        "onprem_rate_per_used_gpu_hour": (
            None if used_rate is None else str(used_rate.quantize(RATE_PLACES))
        ),
    }
