"""Attribution against a real ledger store: one atomic replace per period, and the command."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.errors import UsageError
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.engine.attribute_helpers import (
    busy,
    by_label,
    cost,
    cost_frame,
    expected,
    tags,
    usage_frame,
)

SEPTEMBER = datetime(2026, 9, 1, tzinfo=UTC)


def _fill(store: Store) -> None:
    october = [
        cost(EffectiveCost=Decimal(12), x_GpuCount=1, Tags=tags(team="vision")),
        cost(EffectiveCost=Decimal("2.50"), ResourceId="vol-1", Tags=tags(team="nlp")),
    ]
    september = [
        cost(
            EffectiveCost=Decimal(7),
            ResourceId="vol-9",
            x_BillingPeriod="2026-09",
            BillingPeriodStart=SEPTEMBER,
            BillingPeriodEnd=datetime(2026, 10, 1, tzinfo=UTC),
            ChargePeriodStart=SEPTEMBER,
            ChargePeriodEnd=datetime(2026, 9, 1, 1, tzinfo=UTC),
        )
    ]
    frame = cost_frame(october + september).collect()
    store.replace_partitions("cost", frame, [Cost.x_Source, Cost.x_BillingPeriod])
    usage = usage_frame(
        busy("a", team="nlp", model="llama", buckets=6, source="agent", x_BillingPeriod="2026-10")
    ).collect()
    store.append("gpu_usage", usage)


def test_run_attribution_writes_the_period_and_rerun_replaces_it(
    store: Store, settings: Settings
) -> None:
    _fill(store)
    first = run_attribution(store, settings, "2026-10")
    run_attribution(store, settings, "2026-09")
    again = run_attribution(store, settings, "2026-10")

    assert first.conserved
    assert again.conserved
    assert again.invoice == {"USD": Decimal("14.5")}
    assert again.unallocated == {}
    stored = store.read("allocation")
    october = stored.filter(pl.col(Alloc.x_BillingPeriod) == "2026-10")
    assert october.height == first.rows  # replaced, not appended
    assert_frame_equal(
        by_label(october),
        expected(
            ("nlp", "(unlabelled)", None, "usage", "tag:team", "2.5"),
            ("nlp", "llama", "ml/a", "usage", "telemetry", "6"),
            ("vision", "(idle)", None, "idle", "idle:owner", "6"),
        ),
    )
    september = stored.filter(pl.col(Alloc.x_BillingPeriod) == "2026-09")
    assert september[Alloc.cost].sum() == Decimal(7)
    assert september[Alloc.rule].to_list() == ["unallocated"]


def test_a_period_without_costs_clears_its_allocation(store: Store, settings: Settings) -> None:
    _fill(store)
    run_attribution(store, settings, "2026-10")
    store.replace_partitions(
        "cost",
        cost_frame([cost(x_BillingPeriod="2026-11", EffectiveCost=Decimal(0))]).collect(),
        [Cost.x_Source, Cost.x_BillingPeriod],
        replace=[{Cost.x_Source: "aws", Cost.x_BillingPeriod: "2026-10"}],
    )
    result = run_attribution(store, settings, "2026-10")
    assert result.rows == 0
    assert result.invoice == {}
    assert store.read("allocation").filter(pl.col(Alloc.x_BillingPeriod) == "2026-10").height == 0


def test_bad_period_is_a_usage_error(store: Store, settings: Settings) -> None:
    with pytest.raises(UsageError, match="2026-13"):
        run_attribution(store, settings, "2026-13")


def test_command_prints_the_summary_and_the_check(store: Store, tmp_path: Path) -> None:
    _fill(store)
    result = CliRunner().invoke(app, ["--home", store.home, "attribute", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "14.50" in result.output
    assert "by rule: telemetry" in result.output
    assert "conservation: allocation == cost basis in every currency" in result.output
