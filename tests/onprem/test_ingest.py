"""`ingest onprem`: cost rows per host-hour from the cluster's settings and measured power."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.collect.onprem import ingest
from gpuledger.collect.onprem.rows import ENERGY_SKU, ESTIMATED_SKU, FIXED_SKU
from gpuledger.config import Settings
from gpuledger.errors import ConfigError, UsageError
from gpuledger.schema import Cost, Usage
from gpuledger.store.delta import Store
from tests.onprem.clusters import (
    AFTER_FEBRUARY,
    FEBRUARY,
    dgx,
    power_buckets,
    usage,
    with_clusters,
)

FEBRUARY_HOURS = 28 * 24


def _february(store: Store) -> pl.DataFrame:
    return store.read("cost").filter(pl.col(Cost.x_BillingPeriod) == "2026-02")


def _row(rows: pl.DataFrame, host: str, hour: datetime, sku: str) -> dict[str, object]:
    picked = rows.filter(
        (pl.col(Cost.ResourceId) == host)
        & (pl.col(Cost.ChargePeriodStart) == hour)
        & (pl.col(Cost.SkuId) == sku)
    )
    assert picked.height == 1
    return picked.row(0, named=True)


def test_hand_computed_month(store: Store) -> None:
    """dgx-01's first hour: 8 GPUs × 500 W × 1 h = 4 kWh; × PUE 1.25 × $0.20 = $1.00. A second
    workload's row on the same GPU-bucket repeats its power and must not count twice."""
    measured = power_buckets("dgx-01", team="nlp")
    second_workload = {**measured[0], Usage.team: "vision", Usage.pod: "vision-job"}
    store.append("gpu_usage", usage([*measured, second_workload]))

    result = ingest(store, with_clusters(dgx()), "all", periods=["2026-02"], now=AFTER_FEBRUARY)

    rows = _february(store)
    assert result.rows == rows.height == 2 * 2 * FEBRUARY_HOURS
    energy = _row(rows, "dgx-01", FEBRUARY, ENERGY_SKU)
    assert energy[Cost.EffectiveCost] == Decimal("1.00")
    assert energy[Cost.ConsumedQuantity] == pytest.approx(4.0)
    assert energy[Cost.ConsumedUnit] == "kWh"
    assert energy[Cost.ChargeDescription] == "Energy (measured GPU power)"
    # 2 hosts × 672 h share $10,000 + $1,000 + $2,000 to the nano-unit
    fixed = rows.filter(pl.col(Cost.SkuId) == FIXED_SKU)
    assert fixed.height == 2 * FEBRUARY_HOURS
    assert fixed[Cost.EffectiveCost].sum() == Decimal(13_000)
    shares = set(fixed[Cost.EffectiveCost].to_list())
    assert shares == {Decimal("9.672619048"), Decimal("9.672619047")}
    first = rows.row(0, named=True)
    assert first[Cost.ProviderName] == "On-premises"
    assert first[Cost.ChargeCategory] == "Usage"
    assert (first[Cost.BillingAccountId], first[Cost.BillingAccountName]) == ("dgx", "dgx")
    assert (first[Cost.x_GpuModel], first[Cost.x_GpuCount]) == ("H100", 8)
    assert first[Cost.BillingCurrency] == "USD"
    assert first[Cost.Tags] == [{"key": "team", "value": "research", "origin": "cluster"}]
    assert set(rows[Cost.ChargePeriodEnd] - rows[Cost.ChargePeriodStart]) == {timedelta(hours=1)}


def test_host_hours_without_telemetry_are_estimated_and_flagged(store: Store) -> None:
    store.append("gpu_usage", usage(power_buckets("dgx-01")))

    ingest(store, with_clusters(dgx()), "dgx", periods=["2026-02"], now=AFTER_FEBRUARY)

    energy = _february(store).filter(pl.col(Cost.SkuId) != FIXED_SKU)
    flagged = energy.filter(pl.col(Cost.SkuId) == ESTIMATED_SKU)
    assert energy.height - flagged.height == 1  # only dgx-01's first hour was measured
    assert set(flagged[Cost.ChargeDescription]) == {"Energy (estimated: no telemetry)"}
    # 8 GPUs × 70 W idle × 1 h = 0.56 kWh; × 1.25 × $0.20 = $0.14
    assert set(flagged[Cost.EffectiveCost]) == {Decimal("0.14")}
    assert flagged[Cost.ConsumedQuantity].to_list() == pytest.approx([0.56] * flagged.height)


def test_tdp_estimates_when_no_idle_figure_is_set(store: Store) -> None:
    ingest(
        store, with_clusters(dgx(idle_power_w=None)), "dgx", periods=["2026-02"], now=AFTER_FEBRUARY
    )

    flagged = _february(store).filter(pl.col(Cost.SkuId) == ESTIMATED_SKU)
    assert set(flagged[Cost.EffectiveCost]) == {Decimal("1.40")}  # 5.6 kWh × 1.25 × $0.20


def test_ingesting_twice_stores_one_copy_and_more_telemetry_reprices_the_month(
    store: Store,
) -> None:
    settings = with_clusters(dgx())
    ingest(store, settings, "dgx", periods=["2026-02"], now=AFTER_FEBRUARY)
    ingest(store, settings, "dgx", periods=["2026-02"], now=AFTER_FEBRUARY)
    assert _february(store).height == 2 * 2 * FEBRUARY_HOURS

    store.append("gpu_usage", usage(power_buckets("dgx-02", watts=250.0)))
    ingest(store, settings, "dgx", periods=["2026-02"], now=AFTER_FEBRUARY)

    rows = _february(store)
    assert rows.height == 2 * 2 * FEBRUARY_HOURS
    assert _row(rows, "dgx-02", FEBRUARY, ENERGY_SKU)[Cost.EffectiveCost] == Decimal("0.50")
    assert rows.filter(pl.col(Cost.SkuId) == ENERGY_SKU).height == 1


def test_the_current_month_stops_at_the_last_whole_hour(store: Store) -> None:
    now = FEBRUARY + timedelta(hours=5, minutes=30)
    ingest(store, with_clusters(dgx()), "dgx", periods=["2026-02"], now=now)

    rows = _february(store)
    assert rows.height == 2 * 2 * 5
    assert rows[Cost.ChargePeriodEnd].max() == FEBRUARY + timedelta(hours=5)


def test_a_host_pattern_finds_hosts_in_the_telemetry_and_keeps_their_resource_id(
    store: Store,
) -> None:
    store.append("gpu_usage", usage(power_buckets("gpu-rack7-03", resource_id="onprem/rack7-03")))
    store.append("gpu_usage", usage(power_buckets("gpu-rack8-01")))
    cluster = dgx(hosts=[], host_pattern=r"gpu-rack7-\d+")

    ingest(store, with_clusters(cluster), "dgx", periods=["2026-02"], now=AFTER_FEBRUARY)

    rows = _february(store)
    assert set(rows[Cost.ResourceId]) == {"onprem/rack7-03"}
    assert set(rows[Cost.ResourceName]) == {"gpu-rack7-03"}
    assert rows.filter(pl.col(Cost.SkuId) == FIXED_SKU)[Cost.EffectiveCost].sum() == Decimal(13_000)


@pytest.mark.parametrize(
    ("changes", "period", "message"),
    [
        ({"hosts": [], "host_pattern": "nothing-.*"}, "2026-02", r"'dgx': host_pattern: no host"),
        (
            {"energy_prices": [{"since": "2026-03", "per_kwh": Decimal("0.2")}]},
            "2026-02",
            r"'dgx': energy_prices: no price in force in 2026-02",
        ),
        ({}, "2025-12", r"'dgx': purchase_date: 2026-01-15 is after the period 2025-12"),
        ({"idle_power_w": None, "tdp_w": None}, "2026-02", r"'dgx': idle_power_w: a host-hour"),
    ],
    ids=["no-hosts-matched", "no-energy-price", "purchase-after-period", "no-power-figure"],
)
def test_bad_cluster_settings_leave_the_store_unchanged(
    store: Store, changes: dict[str, object], period: str, message: str
) -> None:
    good = with_clusters(dgx())
    ingest(store, good, "dgx", periods=["2026-03"], now=datetime(2026, 4, 1, tzinfo=UTC))
    before = store.version("cost")
    bad = with_clusters(dgx(**changes))

    with pytest.raises(ConfigError, match=message):
        ingest(store, bad, "all", periods=["2026-03", period], now=datetime(2026, 4, 1, tzinfo=UTC))

    assert store.version("cost") == before
    assert store.state.ingest_runs(1)[0].status == "failed"


def test_an_unknown_cluster_or_none_configured_is_refused(store: Store) -> None:
    with pytest.raises(UsageError, match=r"no cluster named 'dgx-9'.*one of dgx"):
        ingest(store, with_clusters(dgx()), "dgx-9", periods=["2026-02"])
    with pytest.raises(ConfigError, match=r"no \[\[clusters\]\]"):
        ingest(store, Settings(), "all", periods=["2026-02"])


def test_without_periods_last_month_and_this_month_are_priced(store: Store) -> None:
    now = datetime(2026, 2, 1, 3, tzinfo=UTC)  # January is the purchase month: priced whole
    ingest(store, with_clusters(dgx()), "all", now=now)

    periods = store.read("cost")[Cost.x_BillingPeriod].value_counts().sort(Cost.x_BillingPeriod)
    assert periods.rows() == [("2026-01", 2 * 2 * 31 * 24), ("2026-02", 2 * 2 * 3)]
