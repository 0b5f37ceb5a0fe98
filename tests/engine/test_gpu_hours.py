"""GPU-hours are conserved like dollars: each billed instance-hour counts its GPUs once.

One instance-hour billed by several rows (GCP GPU/core/RAM SKUs, an AWS Savings Plan covered
usage line and its negation, reservation-discounted usage) is still one instance-hour; the hours
then follow the same shares as the cost (workloads, idle, no telemetry).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from gpuledger.config import Settings
from gpuledger.engine.attribution import gpu_weights
from gpuledger.schema import Alloc
from tests.engine.attribute_helpers import START, allocate, busy, cost, tags
from tests.engine.test_attribute_properties import config, fleet
from tests.engine.test_engine_keys import colliding_under

D = Decimal
SECOND_HOUR = {
    "ChargePeriodStart": START + timedelta(hours=1),
    "ChargePeriodEnd": START + timedelta(hours=2),
}


def _sp_covered(**fields: Any) -> dict[str, Any]:
    return cost(
        EffectiveCost=D(20),
        x_GpuCount=8,
        x_GpuModel="H100",
        x_LineItemType="SavingsPlanCoveredUsage",
        **fields,
    )


def _sp_negation(**fields: Any) -> dict[str, Any]:
    return cost(
        EffectiveCost=D(0),
        BilledCost=D(-98),
        x_GpuCount=8,
        x_GpuModel="H100",
        x_LineItemType="SavingsPlanNegation",
        **fields,
    )


def _gcp_vm(sku: str, amount: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ProviderName": "GCP",
        "ResourceId": "vm-1",
        "SkuId": sku,
        "EffectiveCost": D(amount),
        "x_GpuCount": 8,
        "x_GpuModel": "A100 40GB",
        "x_LineItemType": "regular",
    }
    return cost(**{**row, **fields})


CASES: dict[str, tuple[list[dict[str, Any]], dict[str, float]]] = {
    # AWS Savings Plan: covered usage + negation of the same instance-hour → 8, not 16.
    "savings-plan-covered-and-negation": (
        [_sp_covered(), _sp_negation(), _sp_covered(**SECOND_HOUR), _sp_negation(**SECOND_HOUR)],
        {"H100": 16.0},
    ),
    # A negation row alone (its covered line in another export) bills no instance time.
    "negation-alone": ([_sp_negation()], {}),
    # Reservation-discounted usage next to on-demand usage of another instance.
    "reserved-and-on-demand": (
        [
            cost(
                EffectiveCost=D(5),
                x_GpuCount=4,
                x_GpuModel="L40S",
                x_LineItemType="DiscountedUsage",
            ),
            cost(ResourceId="i-2", EffectiveCost=D(7), x_GpuCount=4, x_GpuModel="L40S"),
        ],
        {"L40S": 8.0},
    ),
    # GCP bills a GPU VM as GPU, core and RAM SKUs of one hour, each with the VM's GPU count.
    "gcp-multi-sku-vm": (
        [
            _gcp_vm("gpu", "24", ResourceId="vm-1/gpu", x_ParentResourceId="vm-1"),
            _gcp_vm("core", "3"),
            _gcp_vm("ram", "1"),
            _gcp_vm("gpu", "24", ResourceId="vm-1/gpu", x_ParentResourceId="vm-1", **SECOND_HOUR),
            _gcp_vm("core", "3", **SECOND_HOUR),
            _gcp_vm("ram", "1", **SECOND_HOUR),
        ],
        {"A100 40GB": 16.0},
    ),
    # Rows without a resource id cannot be matched to an instance: each counts its own hours.
    "no-resource-id": (
        [
            cost(ResourceId=None, x_GpuCount=2, x_GpuModel="A10G"),
            cost(ResourceId=None, x_GpuCount=2, x_GpuModel="A10G", SkuId="other"),
        ],
        {"A10G": 4.0},
    ),
    # Credits and taxes on a GPU instance add no hours.
    "credit-and-tax": (
        [
            cost(x_GpuCount=1, x_GpuModel="L4"),
            cost(x_GpuCount=1, x_GpuModel="L4", ChargeCategory="Credit", EffectiveCost=D(-1)),
            cost(x_GpuCount=1, x_GpuModel="L4", ChargeCategory="Tax", EffectiveCost=D("0.1")),
        ],
        {"L4": 1.0},
    ),
}


def _hours_by_model(allocation: pl.DataFrame) -> dict[str, float]:
    summed = (
        allocation.filter(pl.col(Alloc.gpu_hours) != 0)
        .group_by(Alloc.x_GpuModel)
        .agg(pl.col(Alloc.gpu_hours).sum())
    )
    return dict(summed.iter_rows())


@pytest.mark.parametrize(("costs", "billed"), CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("telemetry", [False, True], ids=["owned", "measured"])
def test_gpu_hours_equal_billed_instance_hours_times_gpus(
    settings: Settings, costs: list[dict[str, Any]], billed: dict[str, float], telemetry: bool
) -> None:
    usage = busy("a", team="nlp", resource="vm-1") + busy("b", team="nlp") if telemetry else []
    got = _hours_by_model(allocate(costs, usage, settings))
    assert got == pytest.approx(billed)


def test_hours_follow_the_cost_shares_of_their_hour(settings: Settings) -> None:
    """A GCP VM of 8 GPUs billed over 3 hours by 3 SKUs: hour 0 one GPU busy half the hour, hour 1
    reported idle, hour 2 silent → 0.5 used, 7.5 + 8 idle, 8 without telemetry."""
    costs = [
        _gcp_vm(sku, amount, **hour)
        for hour in (
            {},
            SECOND_HOUR,
            {
                "ChargePeriodStart": START + timedelta(hours=2),
                "ChargePeriodEnd": START + timedelta(hours=3),
            },
        )
        for sku, amount in (("gpu", "24"), ("core", "3"), ("ram", "1"))
    ]
    for row in costs:
        row["Tags"] = tags(team="vision")
    usage = busy("a", team="nlp", resource="vm-1", buckets=6) + busy(
        None, resource="vm-1", buckets=12, first=12
    )
    allocation = allocate(costs, usage, settings)
    hours = dict(
        allocation.group_by(Alloc.cost_type).agg(pl.col(Alloc.gpu_hours).sum()).iter_rows()
    )
    assert hours == pytest.approx({"usage": 0.5, "idle": 15.5, "no_telemetry": 8.0})
    assert allocation.get_column(Alloc.cost).sum() == D(84)


def test_instances_sharing_a_key_are_still_counted_apart(settings: Settings) -> None:
    """Should two instances' 64-bit keys collide, carriers are chosen on the ids themselves."""
    costs = [
        _gcp_vm(sku, "1", ResourceId=vm, x_ParentResourceId=None)
        for vm in ("vm-1", "vm-2")
        for sku in ("gpu", "core")
    ]
    usage = busy("a", resource="i-9")  # one reporting instance: the first seed is injective on it
    honest = _hours_by_model(allocate(costs, usage, settings))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gpu_weights, "row_key", colliding_under(gpu_weights._RESOURCE_SEED))
        collided = _hours_by_model(allocate(costs, usage, settings))
    assert honest == collided == pytest.approx({"A100 40GB": 16.0})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet(), config())
def test_random_fleets_billed_several_times_count_each_instance_hour_once(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], chosen: Settings
) -> None:
    """Each GPU row of a random fleet billed again as another SKU and as a negation: the
    allocation's GPU-hours per instance stay its billed hours × GPUs, whatever the rules."""
    costs, usage = data
    gpu_rows = [row for row in costs if row.get("x_GpuCount")]
    again = [
        *costs,
        *({**row, "SkuId": "core", "EffectiveCost": D(1), "BilledCost": D(1)} for row in gpu_rows),
        *({**row, "x_LineItemType": "SavingsPlanNegation"} for row in gpu_rows),
    ]
    billed: dict[str, float] = {}
    for row in gpu_rows:
        billed[row["ResourceId"]] = billed.get(row["ResourceId"], 0.0) + row["x_GpuCount"]
    allocation = allocate(again, usage, chosen)
    got = dict(
        allocation.filter(pl.col(Alloc.gpu_hours) != 0)
        .group_by(Alloc.ResourceId)
        .agg(pl.col(Alloc.gpu_hours).sum())
        .iter_rows()
    )
    assert got == pytest.approx(billed)
