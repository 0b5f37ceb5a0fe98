"""The on-prem read model and page: rates per billed and used GPU-hour beside the cloud price."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.collect.onprem import ingest
from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.report.readmodel import onprem as rm
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.factories import cost_rows
from tests.onprem.clusters import AFTER_FEBRUARY, FEBRUARY, power_buckets, usage

APP = Path(__file__).resolve().parents[2] / "app"
CONFIG = """
[[clusters]]
name = "dgx"
hosts = ["dgx-01", "dgx-02"]
gpu_model = "H100"
gpus_per_host = 8
purchase_cost = 360000
purchase_date = 2026-01-15
support_per_year = 12000
colocation_per_month = 2000
energy_prices = [{ since = "2026-01", per_kwh = 0.20 }]
pue = 1.25
idle_power_w = 70
team = "research"
"""


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[Store, Path]:
    """February 2026: dgx-01 busy in its first hour and idle in its second, dgx-02 silent; one
    AWS p5.48xlarge hour in us-east-1, so the cloud price is looked up there."""
    config = tmp_path / "gpuledger.toml"
    config.write_text(CONFIG)
    settings = load_settings(config)
    store = Store(tmp_path / "home")
    busy = power_buckets("dgx-01", team="nlp")
    idle = power_buckets("dgx-01", hour=FEBRUARY + timedelta(hours=1), watts=70.0)
    store.append("gpu_usage", usage([*busy, *idle]))
    ingest(store, settings, "all", periods=["2026-02"], now=AFTER_FEBRUARY)
    cloud = cost_rows(
        {
            Cost.BillingPeriodStart: FEBRUARY,
            Cost.BillingPeriodEnd: AFTER_FEBRUARY - timedelta(days=1),
            Cost.ChargePeriodStart: FEBRUARY,
            Cost.ChargePeriodEnd: FEBRUARY + timedelta(hours=1),
            Cost.x_BillingPeriod: "2026-02",
            Cost.RegionId: "us-east-1",
            Cost.ResourceId: "i-p5",
            Cost.x_InstanceType: "p5.48xlarge",
            Cost.x_GpuModel: "H100",
            Cost.x_GpuCount: 8,
            Cost.EffectiveCost: Decimal("55.04"),
            Cost.BilledCost: Decimal("55.04"),
        }
    )
    store.replace_partitions("cost", cloud, [Cost.x_Source, Cost.x_BillingPeriod])
    run_attribution(store, settings, "2026-02")
    return store, config


def test_rates_per_billed_and_used_gpu_hour_beside_the_cloud_price(
    ledger: tuple[Store, Path],
) -> None:
    store, config = ledger
    view = rm.onprem_view(store, load_settings(config), "2026-02")

    (row,) = view.clusters.iter_rows(named=True)
    billed = 2 * 8 * 28 * 24
    assert (row[rm.CLUSTER], row[rm.GPU_MODEL], row[rm.HOSTS]) == ("dgx", "H100", 2)
    assert (row[rm.GPU_HOURS], row[rm.USED], row[rm.IDLE]) == (billed, 8.0, 8.0)
    assert row[rm.UNREPORTED] == billed - 16  # dgx-02 never reported; dgx-01 two hours only
    assert row[rm.HARDWARE] == Decimal(13_000)
    assert row[rm.TOTAL] == row[rm.HARDWARE] + row[rm.ENERGY]
    assert row[rm.CLOUD_RATE] == Decimal("6.88")  # 55.04 / 8
    assert row[rm.CLOUD_INSTANCE] == "AWS p5.48xlarge (us-east-1)"
    assert row[rm.RATE] == (row[rm.TOTAL] / billed).quantize(Decimal("0.0001"))
    assert row[rm.USED_RATE] == (row[rm.TOTAL] / 8).quantize(Decimal("0.0001"))


def test_a_month_without_clusters_is_empty(ledger: tuple[Store, Path]) -> None:
    store, config = ledger
    assert rm.onprem_view(store, load_settings(config), "2026-03").clusters.is_empty()


def test_the_page_shows_the_rates(
    ledger: tuple[Store, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, config = ledger
    monkeypatch.syspath_prepend(str(APP))
    monkeypatch.setenv("GPULEDGER_HOME", str(store.home))
    monkeypatch.setenv("GPULEDGER_CONFIG", str(config))
    at = AppTest.from_file(str(APP / "views" / "onprem.py"), default_timeout=60)
    at.query_params["period"] = "2026-02"
    at.run()

    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric][2] == "$6.88"
    tables = [list(d.value.columns) for d in at.dataframe]
    assert tables[0][:3] == ["cluster", "gpu_model", "hardware_per_gpu_hour"]
