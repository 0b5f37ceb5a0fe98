"""An on-prem month through attribution: conserved, and host-hours split by telemetry."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from gpuledger.collect.onprem import ingest
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.onprem.clusters import AFTER_FEBRUARY, FEBRUARY, dgx, power_buckets, usage, with_clusters


def _hour_cost(store: Store, host: str) -> Decimal:
    rows = store.read("cost").filter(
        (pl.col(Cost.ResourceId) == host) & (pl.col(Cost.ChargePeriodStart) == FEBRUARY)
    )
    total: Decimal = rows[Cost.EffectiveCost].sum()
    return total


def test_an_onprem_month_conserves_and_splits_host_hours_by_telemetry(store: Store) -> None:
    busy = power_buckets("dgx-01", team="nlp")  # every GPU busy for the first hour
    idle = power_buckets("dgx-02", watts=70.0)  # reported, nothing running
    store.append("gpu_usage", usage([*busy, *idle]))
    ingest(store, with_clusters(dgx()), "dgx", periods=["2026-02"], now=AFTER_FEBRUARY)

    result = run_attribution(store, with_clusters(dgx()), "2026-02")

    assert result.conserved
    allocation = store.read("allocation")
    by_kind = (
        allocation.group_by(Alloc.ResourceId, Alloc.team, Alloc.cost_type, Alloc.rule)
        .agg(pl.col(Alloc.cost).sum(), pl.col(Alloc.gpu_hours).sum())
        .sort(Alloc.ResourceId, Alloc.cost_type)
    )
    first_day = allocation.filter(pl.col(Alloc.day) == FEBRUARY.date())
    nlp = first_day.filter(pl.col(Alloc.team) == "nlp")
    assert nlp[Alloc.cost].sum() == _hour_cost(store, "dgx-01")
    assert nlp[Alloc.gpu_hours].sum() == 8.0
    assert set(nlp[Alloc.rule]) == {"telemetry"}
    idle_line = first_day.filter(pl.col(Alloc.cost_type) == "idle")
    assert idle_line[Alloc.cost].sum() == _hour_cost(store, "dgx-02")
    assert set(idle_line[Alloc.team]) == {"research"}  # the cluster's owner
    unreported = by_kind.filter(pl.col(Alloc.cost_type) == "no_telemetry")
    assert set(unreported[Alloc.team]) == {"research"}
    total_cost: Decimal = store.read("cost")[Cost.EffectiveCost].sum()
    assert allocation[Alloc.cost].sum() == total_cost
    assert allocation[Alloc.gpu_hours].sum() == 2 * 8 * 28 * 24
