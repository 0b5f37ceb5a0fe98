"""On the demo company every kind of recommendation shows up, with a plausible share of the bill."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpuledger.cli import app

KINDS = {"spot", "rightsize", "distill", "idle", "commit", "placement"}


@pytest.mark.slow
def test_demo_finds_every_kind(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    runner = CliRunner()
    demo = runner.invoke(app, ["--home", str(home), "demo", "--no-app"], catch_exceptions=False)
    assert demo.exit_code == 0, demo.output
    options = ["--home", str(home), "--config", str(home / "gpuledger.toml")]
    result = runner.invoke(
        app,
        [*options, "recommend", "--period", "2026-10", "--format", "json"],
        catch_exceptions=False,
    )
    document = json.loads(result.output)
    assert {r["kind"] for r in document["recommendations"]} == KINDS
    share = Decimal(document["open_monthly_saving"]) / Decimal(document["gpu_bill"])
    assert Decimal("0.2") < share < Decimal("0.6"), share
