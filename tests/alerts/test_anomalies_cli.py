"""`gpuledger anomalies` and `gpuledger budgets` end to end through the command line: JSON shape,
formula-safe CSV, tables, and a stale allocation refused as `chargeback` refuses it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from gpuledger.cli import app as cli
from gpuledger.errors import UsageError
from gpuledger.schema import Alloc, Cost
from gpuledger.store.delta import Store
from tests.alerts.fleet import OCT, RUNAWAY
from tests.chargeback.ledger import day
from tests.chargeback.ledger import write_month as write_ledger_month


def invoke(store: Store, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--home", store.home, *args], env={"COLUMNS": "200"}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_anomalies_json(fleet: Store) -> None:
    document = json.loads(invoke(fleet, "anomalies", "--period", OCT, "--format", "json"))
    assert (document["period"], document["currency"], document["team"]) == (OCT, "USD", None)
    runaway = document["anomalies"][0]  # the largest impact first
    assert {k: runaway[k] for k in ("kind", "team", "dimension", "key", "day", "last_day")} == {
        "kind": "anomaly",
        "team": "research",
        "dimension": "team",
        "key": "research",
        "day": RUNAWAY[0].isoformat(),
        "last_day": RUNAWAY[1].isoformat(),
    }
    assert (runaway["expected"], runaway["actual"], runaway["impact"]) == (
        "4720.00",
        "42480.00",
        "37760.00",
    )
    assert runaway["drivers"][0] == {
        "label": "i-run1 H100",
        "detail": "+4,720.00 USD over its usual, model llama-ft",
        "cost": "4720.00",
    }
    assert [a["team"] for a in document["anomalies"]] == ["research", "nlp", "vision"]


def test_anomalies_of_one_team_as_a_table(fleet: Store) -> None:
    output = invoke(fleet, "anomalies", "--period", OCT, "--team", "nlp")
    assert output.startswith("1 spend anomaly of team nlp in 2026-10, 3,200.00 USD above expected")
    assert "idle share rose from 0 % to 67 %" in output


def test_anomalies_csv_cells_are_formula_safe(store: Store) -> None:
    """A model named like a formula (tags are anyone's to set) reaches the CSV as text."""
    formula = '=HYPERLINK("http://x")'
    write_ledger_month(
        store, "2026-09", *({Alloc.day: day("2026-09", d), Alloc.cost: "100"} for d in range(1, 31))
    )
    write_ledger_month(
        store,
        OCT,
        *({Alloc.day: day(OCT, d), Alloc.cost: "100"} for d in range(1, 21)),
        *({Alloc.day: day(OCT, d), Alloc.cost: "500", Alloc.model: formula} for d in range(10, 21)),
    )
    rows = list(csv.DictReader(io.StringIO(invoke(store, "anomalies", "--format", "csv"))))
    assert [(r["dimension"], r["key"], r["impact"]) for r in rows] == [
        ("model", "'" + formula, "500.00")
    ]
    assert rows[0]["explanation"] == "new model `" + formula + "` appeared"


def test_a_stale_allocation_is_refused(fleet: Store) -> None:
    invoke(fleet, "anomalies", "--period", OCT, "--format", "json")  # attributed: current
    restated = fleet.read("cost").filter(
        (pl.col(Cost.x_BillingPeriod) == OCT) & (pl.col(Cost.ResourceId) != "i-vis1")
    )  # October's bill restated after attribution
    fleet.replace_partitions("cost", restated, [Cost.x_Source, Cost.x_BillingPeriod])
    for command in ("anomalies", "budgets"):
        with pytest.raises(UsageError, match="allocation of 2026-10 is stale: cost changed"):
            invoke(fleet, command, "--period", OCT)


def test_a_month_not_attributed_yet_is_refused(store: Store) -> None:
    write_ledger_month(store, OCT, {Alloc.day: day(OCT, 1)})
    store.replace_partitions(
        "allocation",
        store.read("allocation").head(0),
        [Alloc.x_BillingPeriod],
        replace=[{Alloc.x_BillingPeriod: OCT}],
    )
    for command in ("anomalies", "budgets"):
        with pytest.raises(UsageError, match="2026-10 has billing data but no allocation"):
            invoke(store, command, "--period", OCT)


def _config(tmp_path: Path, **budgets: int) -> Path:
    path = tmp_path / "gpuledger.toml"
    path.write_text("".join(f"[teams.{t}]\nbudget = {b}\n" for t, b in budgets.items()))
    return path


def test_budgets_json(fleet: Store, tmp_path: Path) -> None:
    config = _config(tmp_path, nlp=70_000, research=100_000)
    output = invoke(fleet, "--config", str(config), "budgets", "--period", OCT, "--format", "json")
    teams: dict[str, Any] = {t["team"]: t for t in json.loads(output)["teams"]}
    assert list(teams) == ["nlp", "research", "vision"]
    assert teams["research"] == {
        "team": "research",
        "budget": "100000.00",
        "month_to_date": "120360.00",  # 31 x 2,360 + 4 Tuesdays x 2,360 + the runaway 37,760
        "share": 1.2036,
        "forecast": "120360.00",  # a complete month forecasts its own total
        "forecast_over": True,
        "state": "over",
        "crossed": [0.8, 1.0],
    }
    assert (teams["nlp"]["state"], teams["nlp"]["crossed"]) == ("warning", [0.8])
    assert teams["vision"]["budget"] is None


def test_budgets_table(fleet: Store, tmp_path: Path) -> None:
    config = _config(tmp_path, nlp=70_000)
    output = invoke(fleet, "--config", str(config), "budgets", "--period", OCT)
    assert output.startswith("Budgets 2026-10 (USD)")
    assert "warning" in output
    assert "80%" in output
