"""**placement**: steady cloud work onto idle on-prem capacity, or work off a costly cluster."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from gpuledger.collect.onprem.rows import PROVIDER
from gpuledger.config import Settings
from gpuledger.engine.recommend.finding import RuleContext
from gpuledger.engine.recommend.pipeline import find
from gpuledger.engine.recommend.placement import ONPREM_PROVIDER, placement_findings
from gpuledger.engine.recommend.profile import Profile
from gpuledger.engine.waste.inputs import ResourceCost
from gpuledger.prices.book import PRICE_SCHEMA, PriceBook

HOURS = 744  # 2026-10


def _prices(p5_hourly: str = "55.04") -> PriceBook:
    """p5.48xlarge (8 × H100) in us-east-1: $6.88 per GPU-hour at the default price."""
    row = {
        "provider": "AWS",
        "region": "us-east-1",
        "instance_type": "p5.48xlarge",
        "on_demand_hourly": p5_hourly,
        "spot_hourly": None,
        "source": "test",
        "as_of": "2026-10-01",
        "approximate": False,
    }
    return PriceBook(pl.DataFrame([row], schema=PRICE_SCHEMA))


def _context(prices: PriceBook) -> RuleContext:
    return RuleContext(settings=Settings(), prices=prices, period="2026-10", hours_in_period=HOURS)


def _profile(
    rid: str,
    *,
    provider: str,
    cost: str,
    gpus: int,
    used: float,
    busy_share: float,
    pricing: str = "Standard",
    instance_type: str | None = None,
    team: str = "nlp",
) -> Profile:
    resource = ResourceCost(
        resource_id=rid,
        provider=provider,
        region=None if provider == ONPREM_PROVIDER else "us-east-1",
        instance_type=instance_type,
        gpu_model="H100",
        gpu_count=gpus,
        pricing_category=pricing,
        cost=Decimal(cost),
        currency="USD",
        instance_hours=Decimal(HOURS),
        owner=team,
    )
    held = float(gpus * HOURS)
    return Profile(
        resource=resource,
        team=team,
        model="llama",
        workloads=("llama-train",),
        held_gpu_hours=held,
        idle_gpu_hours=held - used,
        gpus_seen=gpus,
        busy_gpus=gpus,
        p95_sm=80.0,
        mean_sm=70.0,
        peak_mem_gib=60.0,
        mem_capacity_gib=80.0,
        long_idle_hours=0.0,
        idle_stretches=0,
        busy_share=busy_share,
        jobs=1,
    )


def _host(rid: str, used: float, cost: str = "14880") -> Profile:
    """An on-prem 8 × H100 host: $14,880 a month is $2.50 per GPU-hour (5,952 GPU-hours)."""
    return _profile(
        rid, provider=ONPREM_PROVIDER, cost=cost, gpus=8, used=used, busy_share=0.5, team="platform"
    )


def _cloud(rid: str, *, used: float, busy_share: float = 0.9, pricing: str = "Standard") -> Profile:
    """A cloud 1 × H100 instance at $6.88 an hour for the whole month: $5,118.72."""
    return _profile(
        rid,
        provider="AWS",
        cost="5118.72",
        gpus=1,
        used=used,
        busy_share=busy_share,
        pricing=pricing,
        instance_type="p5.4xlarge",
    )


def test_steady_on_demand_cloud_work_moves_to_idle_onprem_capacity() -> None:
    hosts = [_host("dgx-1", used=5952.0), _host("dgx-2", used=5952.0 - 800)]  # 800 GPU-h idle
    steady = _cloud("i-steady", used=700.0)

    (finding,) = placement_findings([*hosts, steady], _context(_prices()))

    # pool: $29,760 over 11,904 GPU-hours = $2.50; saving = 5,118.72 − 700 × 2.50
    assert finding.kind == "placement"
    assert finding.resource_ids == ("i-steady",)
    assert finding.monthly_saving == Decimal("3368.72")
    assert finding.target == "onprem:H100"
    assert finding.evidence["onprem_rate_per_gpu_hour"] == "2.5000"
    assert finding.team == "nlp"


@pytest.mark.parametrize(
    "cloud",
    [
        _cloud("i-bursty", used=700.0, busy_share=0.5),
        _cloud("i-spot", used=700.0, pricing="Dynamic"),
        _cloud("i-large", used=900.0),  # needs more than the 800 idle GPU-hours
    ],
    ids=["not-steady", "not-on-demand", "no-room"],
)
def test_work_that_is_not_steady_on_demand_or_does_not_fit_stays(cloud: Profile) -> None:
    hosts = [_host("dgx-1", used=5952.0), _host("dgx-2", used=5952.0 - 800)]
    assert placement_findings([*hosts, cloud], _context(_prices())) == []


def test_idle_capacity_is_handed_out_once_largest_saving_first() -> None:
    hosts = [_host("dgx-1", used=5952.0), _host("dgx-2", used=5952.0 - 800)]
    small, large = _cloud("i-a", used=300.0), _cloud("i-b", used=600.0)

    findings = placement_findings([*hosts, small, large], _context(_prices()))

    assert [f.resource_ids for f in findings] == [("i-a",)]  # 300 GPU-h leaves room; 600 not


def test_work_moves_off_a_cluster_whose_used_gpu_hour_costs_more_than_the_cloud() -> None:
    hosts = [_host("dgx-1", used=1000.0), _host("dgx-2", used=1000.0)]
    anchor = _cloud("i-bursty", used=100.0, busy_share=0.2)  # names the region to price in

    (finding,) = placement_findings([*hosts, anchor], _context(_prices()))

    # $29,760 over 2,000 used GPU-hours = $14.88 > $6.88: saving = 29,760 − 2,000 × 6.88
    assert finding.resource_ids == ("dgx-1", "dgx-2")
    assert finding.monthly_saving == Decimal("16000.00")
    assert finding.confidence == "low"
    assert finding.target == "cloud:p5.48xlarge"
    assert finding.team == "platform"


def test_a_cluster_cheaper_per_used_gpu_hour_than_the_cloud_stays() -> None:
    hosts = [_host("dgx-1", used=5000.0), _host("dgx-2", used=5000.0)]  # $2.98 per used GPU-h
    anchor = _cloud("i-bursty", used=100.0, busy_share=0.2)
    assert placement_findings([*hosts, anchor], _context(_prices())) == []


def test_cloud_rules_do_not_see_onprem_hosts() -> None:
    """An idle on-prem host is no idle-instance finding: stopping it saves no hardware."""
    idle_host = _host("dgx-1", used=0.0)
    idle_host = Profile(**{**idle_host.__dict__, "long_idle_hours": 744.0, "idle_stretches": 1})

    findings = find([idle_host], _context(_prices()))

    assert [f.kind for f in findings] == []


def test_the_provider_name_matches_the_onprem_collector() -> None:
    assert ONPREM_PROVIDER == PROVIDER
