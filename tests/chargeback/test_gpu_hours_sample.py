"""On the sample company's bills, statement GPU-hours equal billed GPU instance-hours × GPUs.

The sample's AWS CUR 2.0 has Savings Plan covered usage with its negation rows and
reservation-discounted usage, its GCP export bills each GPU VM as GPU, core and RAM SKUs, its
Azure bill is a FOCUS export, and its on-prem cluster is priced per host-hour. The billed figure
is computed here from the cost table on its own: usage rows with a GPU count, negations aside,
one per (instance, charge period).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.collect import onprem
from gpuledger.config import Settings, load_settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.waste.compute import compute_waste
from gpuledger.schema import Alloc, Cost, Waste
from gpuledger.store.delta import Store

PERIOD = "2026-10"
SAMPLE_CONFIG = (
    Path(__file__).resolve().parents[2] / "src" / "gpuledger" / "data" / "gpuledger.toml"
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The sample company (smallest scale), ingested from its exports and attributed."""
    root: Path = tmp_path_factory.mktemp("sample")
    exports, home = root / "exports", str(root / "home")
    runner = CliRunner()
    commands = [
        ["sample-data", "--out", str(exports), "--scale", "0.02", "--period", PERIOD],
        ["--home", home, "ingest", "aws", str(exports / "aws")],
        ["--home", home, "ingest", "gcp", str(exports / "gcp")],
        ["--home", home, "ingest", "focus", str(exports / "azure")],
        ["--home", home, "ingest", "gpu", str(exports / "gpu")],
        ["--home", home, "attribute", "--period", PERIOD],
    ]
    for command in commands[:-1]:
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    # the sample's on-prem cluster, priced from the packaged config's [[clusters]]
    onprem.ingest(Store(home), load_settings(SAMPLE_CONFIG), "all", periods=[PERIOD])
    result = runner.invoke(app, commands[-1])
    assert result.exit_code == 0, (commands[-1], result.output)
    return Store(home)


def _billed(store: Store) -> dict[tuple[str, str], float]:
    """Billed GPU instance-hours × GPUs per (provider, GPU model), from the cost rows."""
    hours = (pl.col(Cost.ChargePeriodEnd) - pl.col(Cost.ChargePeriodStart)).dt.total_seconds()
    instance_hours = (
        store.read("cost")
        .filter(
            (pl.col(Cost.x_BillingPeriod) == PERIOD)
            & (pl.col(Cost.ChargeCategory) == "Usage")
            & (pl.col(Cost.x_GpuCount) > 0)
            & (pl.col(Cost.x_LineItemType).fill_null("") != "SavingsPlanNegation")
        )
        .group_by(
            pl.coalesce(Cost.x_ParentResourceId, Cost.ResourceId),
            Cost.ChargePeriodStart,
            Cost.ChargePeriodEnd,
        )
        .agg(
            pl.col(Cost.ProviderName).first(),
            pl.col(Cost.x_GpuModel).first(),
            (pl.col(Cost.x_GpuCount).max() * hours.first() / 3600).alias("gpu_hours"),
        )
    )
    per_model = instance_hours.group_by(Cost.ProviderName, Cost.x_GpuModel).agg(
        pl.col("gpu_hours").sum()
    )
    return {(provider, model): hours for provider, model, hours in per_model.iter_rows()}


def _allocated(store: Store) -> dict[tuple[str, str], float]:
    per_model = (
        store.read("allocation")
        .filter((pl.col(Alloc.x_BillingPeriod) == PERIOD) & (pl.col(Alloc.gpu_hours) != 0))
        .group_by(Alloc.ProviderName, Alloc.x_GpuModel)
        .agg(pl.col(Alloc.gpu_hours).sum())
    )
    return {(provider, model): hours for provider, model, hours in per_model.iter_rows()}


def test_the_sample_bills_instance_hours_several_times(ledger: Store) -> None:
    """What the conservation test relies on: the sample has the rows that used to inflate."""
    cost = ledger.read("cost").filter(pl.col(Cost.x_BillingPeriod) == PERIOD)
    line_types = set(cost.get_column(Cost.x_LineItemType).drop_nulls())
    assert {"SavingsPlanCoveredUsage", "SavingsPlanNegation", "DiscountedUsage"} <= line_types
    gcp_gpu_rows = cost.filter((pl.col(Cost.ProviderName) == "GCP") & (pl.col(Cost.x_GpuCount) > 0))
    rows_per_hour = gcp_gpu_rows.group_by(Cost.ResourceId, Cost.ChargePeriodStart).len()
    assert rows_per_hour.get_column("len").max() >= 3  # GPU, core and RAM SKUs of one VM-hour
    assert {"AWS", "GCP", "Microsoft"} <= {provider for provider, _ in _billed(ledger)}


def test_allocation_gpu_hours_equal_billed_per_provider_and_gpu_model(ledger: Store) -> None:
    assert _allocated(ledger) == pytest.approx(_billed(ledger))


def test_statement_gpu_hours_equal_billed_per_gpu_model(ledger: Store, settings: Settings) -> None:
    statements = build_statements(ledger, settings, PERIOD)
    on_statements: dict[str, float] = defaultdict(float)
    for team in statements.teams:
        for line in team.lines:
            if line.gpu_hours:
                on_statements[line.gpu_model or ""] += line.gpu_hours
    billed: dict[str, float] = defaultdict(float)
    for (_, model), hours in _billed(ledger).items():
        billed[model] += hours
    assert dict(on_statements) == pytest.approx(dict(billed))


def test_waste_and_statement_agree_on_each_instances_reported_gpu_hours(
    ledger: Store, settings: Settings
) -> None:
    """Waste holds the GPU-hours telemetry reported; the allocation's hours of each instance, less
    its hours without telemetry, are the same hours."""
    waste = (
        compute_waste(ledger, settings, PERIOD)
        .group_by(Waste.ResourceId)
        .agg(pl.col(Waste.gpu_hours).sum().alias("waste"))
    )
    allocation = (
        ledger.read("allocation")
        .filter(
            (pl.col(Alloc.x_BillingPeriod) == PERIOD) & (pl.col(Alloc.cost_type) != "no_telemetry")
        )
        .group_by(Alloc.ResourceId)
        .agg(pl.col(Alloc.gpu_hours).sum().alias("statement"))
    )
    both = waste.join(allocation, on=Waste.ResourceId, how="left")
    assert both.height > 0
    assert both.get_column("statement").to_list() == pytest.approx(
        both.get_column("waste").to_list()
    )
