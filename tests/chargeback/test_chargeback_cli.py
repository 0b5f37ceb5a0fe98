"""`gpuledger chargeback`, `close` and `status` from the command line, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import openpyxl

from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

OCT, NOV = "2026-10", "2026-11"


def gpuledger(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chargeback_formats_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write_month(Store(home), OCT, {"cost": "10.005"}, {"team": "vision", "cost": "2.5"})
    result = gpuledger(home, "chargeback", "--period", OCT, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["invoice_total"], data["allocated_total"]) == ("12.51", "12.51")
    refused = gpuledger(home, "chargeback", "--period", OCT, "--format", "xlsx")
    assert refused.returncode == 2
    assert "add --out FILE" in refused.stderr
    out = tmp_path / "statements.xlsx"
    written = gpuledger(home, "chargeback", "--period", OCT, "--format", "xlsx", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert openpyxl.load_workbook(out).sheetnames == ["Summary", "nlp", "vision"]
    table = gpuledger(home, "chargeback", "--period", OCT)
    assert "Chargeback statement 2026-10" in table.stdout


def test_close_and_status_from_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(home)
    write_month(store, OCT, {"cost": "100.00"}, invoiced=False)
    refused = gpuledger(home, "close", "--period", OCT)
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    forced = gpuledger(home, "close", "--period", OCT, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "warning" in forced.stderr
    assert "closed 2026-10" in forced.stderr
    write_month(store, OCT, {"cost": "104.50"})  # a late charge after close
    write_month(store, NOV, {"cost": "1.00"})
    status = json.loads(gpuledger(home, "status", "--format", "json").stdout)
    assert status["adjustments"] == [
        {
            "corrects_period": OCT,
            "lands_in": NOV,
            "team": "nlp",
            "amount": "4.50",
            "currency": "USD",
        }
    ]
    assert (
        "adjustment of closed 2026-10 → 2026-11: nlp 4.50 USD" in gpuledger(home, "status").stdout
    )
    no_reason = gpuledger(home, "close", "--period", OCT, "--reopen")
    assert no_reason.returncode == 2
    assert "--reason" in no_reason.stderr
