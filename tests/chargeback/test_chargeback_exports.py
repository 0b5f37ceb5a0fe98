"""Exports read back with real readers: same totals everywhere, no formula from a hostile name."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import openpyxl
import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.report.export.cells import FORMULA_STARTS
from gpuledger.report.export.render import render
from gpuledger.report.export.xlsx import SUMMARY_SHEET
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

OCT = "2026-10"
HOSTILE = {
    "formula": '=HYPERLINK("http://evil.example","click")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(A1:A9)",
    "tab": "\tmodel",
    "cr": "\rmodel",
}


@pytest.fixture
def statements(store: Store) -> Statements:
    settings = Settings.model_validate({"teams": {"nlp": {"budget": 250}}})
    rows = [
        {"team": "nlp", "cost": "100.005", "gpu_hours": 10.0},
        {"team": "nlp", "cost": "-3.333", "cost_type": "credit", "gpu_hours": 0.0},
        {"team": "vision", "cost": "0.004", "model": "yolo"},
        {"team": "(unallocated)", "cost": "12.5", "cost_type": "unallocated", "model": None},
    ]
    rows += [
        {"team": name, "model": name, "x_GpuModel": name, "cost": "1.111", "ResourceId": f"i-{key}"}
        for key, name in HOSTILE.items()
    ]
    write_month(store, OCT, *rows)
    return build_statements(store, settings, OCT)


def test_csv_rows_add_up_and_carry_no_formula(statements: Statements) -> None:
    rows = list(csv.DictReader(io.StringIO(render(statements, "csv").decode("utf-8"), newline="")))
    by_team: dict[str, Decimal] = {}
    for row in rows:
        by_team[row["team"]] = by_team.get(row["team"], Decimal(0)) + Decimal(row["cost"])
        for column in ("team", "model", "gpu_model", "cost_type"):
            assert not row[column].startswith(FORMULA_STARTS), (column, row[column])
    expected = {_csv_name(t.team): t.amount_due for t in statements.teams}
    assert by_team == expected
    assert sum(by_team.values(), Decimal(0)) == statements.invoice_total
    # the escaped name is the original behind one apostrophe
    assert "'" + HOSTILE["formula"] in by_team


def _csv_name(name: str) -> str:
    return "'" + name if name.startswith(FORMULA_STARTS) else name


def _as_read(name: str) -> str:
    """The text openpyxl reads back: xlsx stores a carriage return as ``_x000D_``, which Excel
    decodes and openpyxl leaves as it is."""
    return name.replace("\r", "_x000D_")


def test_xlsx_opens_with_the_same_totals_and_no_formula_cells(statements: Statements) -> None:
    book = openpyxl.load_workbook(io.BytesIO(render(statements, "xlsx")))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
    summary = book[SUMMARY_SHEET]
    labels = {row[0].value: row for row in summary.iter_rows() if row[0].value is not None}
    assert labels["Invoice total"][1].value == float(statements.invoice_total)
    assert labels["Unallocated total"][1].value == float(statements.unallocated_total)
    for team in statements.teams:
        assert labels[_as_read(team.team)][1].value == pytest.approx(float(team.total), abs=1e-9)
        assert labels[_as_read(team.team)][0].data_type == "s"
    assert summary.freeze_panes is not None
    assert "#,##0.00" in labels["nlp"][1].number_format
    assert book.sheetnames[0] == SUMMARY_SHEET
    assert len(book.sheetnames) == 1 + len(statements.teams)


def test_xlsx_team_sheet_lines_sum_to_the_team_total(statements: Statements) -> None:
    book = openpyxl.load_workbook(io.BytesIO(render(statements, "xlsx")))
    nlp = book["nlp"]
    costs = [
        row[6].value for row in nlp.iter_rows(min_row=6) if row[0].value in ("line", "adjustment")
    ]
    total_row = next(row for row in nlp.iter_rows(min_row=6) if row[0].value == "Amount charged")
    assert sum(Decimal(str(c)) for c in costs) == Decimal(str(total_row[6].value))
    assert Decimal(str(total_row[6].value)) == statements.team("nlp").amount_due  # type: ignore[union-attr]
    assert nlp.freeze_panes == "A6"
    hostile = book[next(n for n in book.sheetnames if n.startswith("=HYPERLINK"))]
    assert hostile["B2"].value == HOSTILE["formula"]
    assert hostile["B2"].data_type == "s"
    assert hostile["B2"].quotePrefix


def test_xlsx_and_every_format_are_deterministic(statements: Statements) -> None:
    for fmt in ("table", "json", "csv", "xlsx", "focus"):
        assert render(statements, fmt) == render(statements, fmt), fmt


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        (["a/b:c", "A/B:C"], ["a_b_c", "A_B_C (2)"]),
        (["x" * 40], ["x" * 31]),
        (["summary"], ["summary (2)"]),
        (["[team]?*"], ["_team___"]),
        (["'quoted'"], ["quoted"]),
    ],
    ids=[
        "case-insensitive-duplicate",
        "too-long",
        "summary-clash",
        "forbidden-chars",
        "apostrophes",
    ],
)
def test_sheet_names_are_valid_and_unique(teams: list[str], expected: list[str]) -> None:
    from gpuledger.report.export.xlsx import sheet_names

    assert list(sheet_names(teams).values()) == expected


def test_showback_changes_words_not_numbers(store: Store) -> None:
    write_month(store, OCT, {"cost": "10.00"})
    charge = build_statements(store, Settings(), OCT)
    show = build_statements(
        store, Settings.model_validate({"reporting": {"mode": "showback"}}), OCT
    )
    assert "Chargeback statement" in render(charge, "table").decode()
    assert "Showback report" in render(show, "table").decode()
    book = openpyxl.load_workbook(io.BytesIO(render(show, "xlsx")))
    assert book[SUMMARY_SHEET]["A1"].value == f"Showback report {OCT}"
    charge_json = json.loads(render(charge, "json"))
    show_json = json.loads(render(show, "json"))
    assert (charge_json["mode"], show_json["mode"]) == ("chargeback", "showback")
    for key in ("invoice_total", "allocated_total", "unallocated_total", "teams"):
        assert charge_json[key] == show_json[key]


def test_focus_export_splits_the_cost_rows_by_allocation(statements: Statements) -> None:
    frame = pl.read_parquet(io.BytesIO(render(statements, "focus")))
    assert {
        "AllocatedMethodId",
        "AllocatedResourceId",
        "AllocatedTags",
        "AllocatedMethodDetails",
        "x_Team",
        "x_Model",
        "x_Workload",
        "x_AllocationRule",
    } <= set(frame.columns)
    sums = frame.group_by("x_Team").agg(pl.col("EffectiveCost").sum())
    exact = {row["x_Team"]: row["EffectiveCost"] for row in sums.to_dicts()}
    assert exact["nlp"] == Decimal("96.672")  # 100.005 - 3.333, exact, before rounding
    assert sum(exact.values(), Decimal(0)).quantize(Decimal("0.01")) == statements.invoice_total
    details = json.loads(frame["AllocatedMethodDetails"][0])
    assert 0 <= details["Elements"][0]["AllocatedRatio"] <= 1
    assert json.loads(frame.filter(pl.col("x_Team") == "nlp")["AllocatedTags"][0])["team"] == "nlp"
