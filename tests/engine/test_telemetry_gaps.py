"""Hours a reporting instance sent no telemetry: their own allocation line, out of waste, in status."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import polars as pl
import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.config import Settings, load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.waste.compute import compute_waste
from gpuledger.report.health import telemetry_gaps
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.app.conftest import (  # noqa: F401 (the app's fixtures, used by name)
    AppFactory,
    LedgerFiles,
    _fresh_caches,
    open_app,
    own_ledger,
    table,
)
from tests.engine.attribute_helpers import PERIOD, START, busy, cost, cost_frame, tags, usage_frame


def _fill(store: Store, source: str = "aws", resource: str = "i-1") -> None:
    """``resource`` (4 GPUs, $8/h) billed 3 hours: hour 0 busy on one GPU, hour 1 idle, hour 2
    silent. i-2 never reports: its hours are owned as usual, not a gap."""
    hours = [
        cost(
            x_Source=source,
            ResourceId=resource,
            EffectiveCost=Decimal(8),
            x_GpuCount=4,
            x_GpuModel="A100 40GB",
            ChargePeriodStart=START + timedelta(hours=h),
            ChargePeriodEnd=START + timedelta(hours=h + 1),
            Tags=tags(team="vision"),
        )
        for h in range(3)
    ]
    silent = cost(
        x_Source=source,
        ResourceId="i-2",
        EffectiveCost=Decimal(5),
        x_GpuCount=1,
        Tags=tags(team="nlp"),
    )
    store.replace_partitions(
        "cost", cost_frame([*hours, silent]).collect(), [Cost.x_Source, Cost.x_BillingPeriod]
    )
    agent = {
        "source": "agent",
        "host": "gpu-host-1",
        "x_BillingPeriod": PERIOD,
        "resource": resource,
    }
    usage = busy("a", team="nlp", model="llama", **agent) + busy(None, first=12, **agent)
    store.append("gpu_usage", usage_frame(usage).collect())


def test_silent_hours_of_a_reporting_instance_are_no_telemetry_not_idle(
    store: Store, settings: Settings
) -> None:
    _fill(store)
    result = run_attribution(store, settings, PERIOD)
    assert result.conserved

    allocation = store.read("allocation")
    lines = {
        (row[Alloc.ResourceId], row[Alloc.model]): (row[Alloc.cost], row[Alloc.gpu_hours])
        for row in allocation.group_by(Alloc.ResourceId, Alloc.model)
        .agg(pl.col(Alloc.cost).sum(), pl.col(Alloc.gpu_hours).sum())
        .to_dicts()
    }
    assert lines == {
        ("i-1", "llama"): (Decimal(2), 1.0),
        ("i-1", "(idle)"): (Decimal(14), 7.0),
        ("i-1", "(no telemetry)"): (Decimal(8), 4.0),
        ("i-2", "(unlabelled)"): (Decimal(5), 1.0),
    }
    gap = allocation.filter(pl.col(Alloc.model) == "(no telemetry)").row(0, named=True)
    assert (gap[Alloc.team], gap[Alloc.cost_type], gap[Alloc.rule]) == (
        "vision",
        "no_telemetry",
        "no-telemetry:owner",
    )

    waste = compute_waste(store, settings, PERIOD)
    assert waste.get_column("gpu_hours").sum() == 2.0  # the two reported GPU-hours only

    assert telemetry_gaps(store) == [
        {
            Alloc.x_BillingPeriod: PERIOD,
            Alloc.currency: "USD",
            "instances": 1,
            "instance_hours": 1.0,
            "gpu_hours": 4.0,
            "cost": "8.00",
        }
    ]


def test_status_shows_telemetry_gaps(store: Store, settings: Settings) -> None:
    _fill(store)
    run_attribution(store, settings, PERIOD)
    runner = CliRunner()

    table = runner.invoke(app, ["--home", store.home, "status"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "Telemetry gaps" in table.output
    assert "8.00 USD" in table.output

    document = runner.invoke(app, ["--home", store.home, "status", "--format", "json"])
    gaps = json.loads(document.output)["telemetry_gaps"]
    assert [(g["x_BillingPeriod"], g["instance_hours"]) for g in gaps] == [(PERIOD, 1.0)]


def test_health_page_shows_telemetry_gaps(request: pytest.FixtureRequest) -> None:
    ledger: LedgerFiles = request.getfixturevalue("own_ledger")
    open_page: AppFactory = request.getfixturevalue("open_app")
    store = ledger.store()
    _fill(store, source="gaps", resource="i-gap")
    run_attribution(store, load_settings(ledger.config), PERIOD)

    at = open_page(ledger, "views/health.py")
    shown = table(at, Alloc.x_BillingPeriod, "instances", "instance_hours")
    gap = {"instances": 1, "instance_hours": 1.0, "gpu_hours": 4.0, "cost": 8.0}
    assert shown.to_dict("records") == [
        {Alloc.x_BillingPeriod: PERIOD, **gap},
        {Alloc.x_BillingPeriod: "Total", **gap},
    ]
