"""Waste prices a GPU-hour from the instance-hours billed, each counted once like attribution's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from gpuledger.config import Settings
from gpuledger.engine.waste.inputs import resource_costs
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.engine.attribute_helpers import PERIOD, START, cost, cost_frame


def _hour(h: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ChargePeriodStart": START + timedelta(hours=h),
        "ChargePeriodEnd": START + timedelta(hours=h + 1),
        "x_GpuCount": 8,
        "x_GpuModel": "H100",
        "SkuId": "BoxUsage:p5.48xlarge",
    }
    return cost(**{**row, **fields})


def test_savings_plan_negations_do_not_halve_the_gpu_hour_price(
    store: Store, settings: Settings
) -> None:
    """10 hours on a Savings Plan at $20/h (covered usage + its negation per hour) → $2.50 per
    GPU-hour; counting the negations' hours too would halve it."""
    rows = [
        row
        for h in range(10)
        for row in (
            _hour(h, EffectiveCost=Decimal(20), x_LineItemType="SavingsPlanCoveredUsage"),
            _hour(h, EffectiveCost=Decimal(0), x_LineItemType="SavingsPlanNegation"),
        )
    ]
    store.replace_partitions(
        "cost", cost_frame(rows).collect(), [Cost.x_Source, Cost.x_BillingPeriod]
    )
    instance = resource_costs(store, settings, PERIOD)["i-1"]
    assert instance.instance_hours == Decimal(10)
    assert instance.gpu_hourly == Decimal("2.5")


def test_a_vm_billed_as_several_skus_counts_its_hours_once(
    store: Store, settings: Settings
) -> None:
    rows = [
        _hour(h, SkuId=sku, EffectiveCost=Decimal(amount))
        for h in range(4)
        for sku, amount in (("gpu", 30), ("core", 2))
    ] + [_hour(4, SkuId="gpu", EffectiveCost=Decimal(30))]
    store.replace_partitions(
        "cost", cost_frame(rows).collect(), [Cost.x_Source, Cost.x_BillingPeriod]
    )
    instance = resource_costs(store, settings, PERIOD)["i-1"]
    assert instance.instance_hours == Decimal(5)
    assert instance.cost == Decimal(158)
