"""`gpuledger explain` from the command line: line ids from every export lead back to their line."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl

from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

OCT = "2026-10"


def gpuledger(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a subprocess; tables as wide as a 200-column terminal, whatever the caller's."""
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), *args],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _explain_json(home: Path, *args: str) -> list[dict[str, object]]:
    result = gpuledger(home, "explain", "--period", OCT, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    lines: list[dict[str, object]] = json.loads(result.stdout)["lines"]
    return lines


def test_line_ids_of_every_export_round_trip_through_explain(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_month(
        Store(home),
        OCT,
        {"cost": "10.005"},
        {"cost": "2.5", "model": "(idle)", "cost_type": "idle", "rule": "idle:owner"},
        {"team": "vision", "cost": "7"},
    )
    rows = list(
        csv.DictReader(
            io.StringIO(gpuledger(home, "chargeback", "--period", OCT, "--format", "csv").stdout)
        )
    )
    document = json.loads(gpuledger(home, "chargeback", "--period", OCT, "--format", "json").stdout)
    json_ids = [line["line_id"] for team in document["teams"] for line in team["lines"]]
    workbook = tmp_path / "statements.xlsx"
    gpuledger(home, "chargeback", "--period", OCT, "--format", "xlsx", "--out", str(workbook))
    sheet = openpyxl.load_workbook(workbook)["nlp"]
    header = [cell.value for cell in sheet[5]]
    xlsx_ids = [
        row[header.index("Line id")]
        for row in sheet.iter_rows(min_row=6, values_only=True)
        if row[0] == "line"
    ]
    assert [row["line_id"] for row in rows] == json_ids
    table = gpuledger(home, "chargeback", "--period", OCT).stdout
    assert all(f"{row['line_id']} │" in table for row in rows)
    assert xlsx_ids == [row["line_id"] for row in rows if row["team"] == "nlp"]
    for row in rows:
        (line,) = _explain_json(home, "--team", row["team"], "--line", row["line_id"])
        assert (line["line_id"], line["model"], line["cost_type"]) == (
            row["line_id"],
            row["model"],
            row["cost_type"],
        )
        assert Decimal(str(line["cost"])) == Decimal(row["cost"])
        assert sum(Decimal(r["cost"]) for r in line["rules"]) == Decimal(row["cost"])


def test_explain_prints_the_rules_and_sources_adding_up_to_the_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cpu = {"x_GpuModel": None}  # the cost rows write_month derives carry no GPU model
    write_month(
        Store(home), OCT, *({**cpu, "cost": "1.25", "ResourceId": f"i-{n}"} for n in range(4))
    )
    result = gpuledger(
        home, "explain", "--period", OCT, "--team", "nlp", "--line", "1", "--top", "2"
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "2026-10 nlp · line 1 (line-" in text
    assert "llama / - / usage: 5.00 USD" in text
    assert "Sources (top 2 of 4)" in text
    assert "other 2 sources" in text
    (line,) = _explain_json(home, "--team", "nlp", "--top", "2")
    assert [s["cost"] for s in line["sources"]] == ["1.25", "1.25"]
    assert line["other_sources"] == {"count": 2, "cost": "2.50"}
    assert [(s["original_amount"], s["share"]) for s in line["sources"]] == [("1.25", 1.0)] * 2


def test_unknown_line_team_or_period_exits_2_with_the_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_month(Store(home), OCT, {"cost": "1"})
    cases = {
        ("--team", "nlp", "--line", "7"): "nlp has no line '7' in 2026-10",
        ("--team", "ops"): "no team 'ops' in 2026-10 (teams: nlp)",
    }
    for args, message in cases.items():
        result = gpuledger(home, "explain", "--period", OCT, *args)
        assert (result.returncode, message in result.stderr) == (2, True), result.stderr
    no_month = gpuledger(home, "explain", "--period", "2026-08", "--team", "nlp")
    assert no_month.returncode == 2
    assert "no billing data for 2026-08" in no_month.stderr
