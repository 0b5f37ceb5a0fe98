"""`--format csv|json|table|xlsx` on the reporting commands, and the one JSON rule for money,
counts and fractions (report/export/json_rule.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from gpuledger.cli import app
from gpuledger.errors import UsageError
from gpuledger.report.export.status_doc import status_csv, status_document
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_two_team_october
from tests.recommend.builders import OCT, use_test_prices, write_month
from tests.recommend.test_rules import forgotten_box, trainer
from tests.recommend.test_waste import etl_box

MONEY = re.compile(r"-?[0-9]+\.[0-9]{2}")
PRICE = re.compile(r"-?[0-9]+\.[0-9]{4}")
MONEY_KEYS = {
    "cost",
    "waste_cost",
    "idle_cost",
    "unused_cost",
    "gpu_cost",
    "monthly_cost",
    "monthly_saving",
    "open_monthly_saving",
    "gpu_bill",
    "total",
    "invoice_total",
    "allocated_total",
    "unallocated_total",
    "amount_due",
    "allocated",
    "original_amount",
}
PRICE_KEYS = {
    "gpu_hour_price",
    "cost_per_million_input",
    "cost_per_million_output",
    "cost_per_million_tokens",
}


def run(store: Store, *args: str) -> str:
    result = CliRunner().invoke(app, ["--home", store.home, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def month(store: Store) -> Store:
    use_test_prices(store)
    write_month(store, OCT, [*forgotten_box(), *trainer()(), etl_box()])
    return store


def pairs(
    document: object, skip: frozenset[str] = frozenset({"evidence"})
) -> Iterator[tuple[str, object]]:
    """Every (key, value) in a JSON document, at any depth, outside the ``skip`` keys."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in skip:
                continue
            yield key, value
            yield from pairs(value, skip)
    elif isinstance(document, list):
        for item in document:
            yield from pairs(item, skip)


def assert_json_rule(document: object) -> None:
    seen = 0
    for key, value in pairs(document):
        if key in MONEY_KEYS and value is not None and not isinstance(value, dict | list):
            assert isinstance(value, str), (key, value)
            assert MONEY.fullmatch(value), (key, value)
            seen += 1
        if key in PRICE_KEYS and value is not None:
            assert isinstance(value, str), (key, value)
            assert PRICE.fullmatch(value), (key, value)
        if key in {"rows", "count", "cost_rows", "sources"} and not isinstance(value, list):
            assert isinstance(value, int), (key, value)
    assert seen


@pytest.mark.parametrize(
    "command",
    [["waste"], ["recommend"]],
    ids=["waste", "recommend"],
)
def test_json_money_is_two_place_text_and_counts_are_integers(
    month: Store, command: list[str]
) -> None:
    assert_json_rule(json.loads(run(month, *command, "--period", OCT, "--format", "json")))


def test_chargeback_and_explain_json_follow_the_rule(store: Store) -> None:
    write_two_team_october(store)
    statements = json.loads(run(store, "chargeback", "--period", OCT, "--format", "json"))
    assert statements["invoice_total"] == "2200.00"
    assert_json_rule(statements)
    explained = json.loads(run(store, "explain", "--team", "nlp", "--format", "json"))
    assert_json_rule(explained)
    (line,) = explained["lines"]
    assert line["cost"] == "1500.00"


def test_waste_csv_has_every_column_with_exact_amounts(month: Store) -> None:
    rows = list(csv.DictReader(io.StringIO(run(month, "waste", "--format", "csv"))))
    document = json.loads(run(month, "waste", "--format", "json"))
    assert [row["waste_cost"] for row in rows] == [row["waste_cost"] for row in document["rows"]]
    assert sum(Decimal(row["waste_cost"]) for row in rows) == Decimal(
        document["totals"]["waste_cost"]
    )
    assert {"team", "ResourceId", "gpu_hour_price", "currency"} <= set(rows[0])


def test_recommend_csv_lists_every_recommendation(month: Store) -> None:
    rows = list(csv.DictReader(io.StringIO(run(month, "recommend", "--format", "csv"))))
    document = json.loads(run(month, "recommend", "--format", "json"))
    assert [(r["id"], r["monthly_saving"]) for r in rows] == [
        (r["id"], r["monthly_saving"]) for r in document["recommendations"]
    ]


@pytest.mark.parametrize(
    ("command", "sheets"),
    [
        ("waste", ["GPU waste", "Cost per million tokens"]),
        ("recommend", ["Recommendations", "Cost per million tokens"]),
    ],
    ids=["waste", "recommend"],
)
def test_xlsx_for_finance(month: Store, tmp_path: Path, command: str, sheets: list[str]) -> None:
    out = tmp_path / f"{command}.xlsx"
    run(month, command, "--format", "xlsx", "--out", str(out))
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == sheets
    assert book[sheets[0]].max_row > 3  # title, blank, header, rows


def test_explain_csv_sources_add_up_to_the_line(store: Store) -> None:
    write_two_team_october(store)
    rows = list(
        csv.DictReader(io.StringIO(run(store, "explain", "--team", "nlp", "--format", "csv")))
    )
    assert rows
    assert {row["team"] for row in rows} == {"nlp"}
    assert sum(Decimal(row["cost"]) for row in rows) == Decimal("1500.00")


def test_status_document_makes_counts_integers_and_amounts_money() -> None:
    sections = {
        "cost": [{"rows": 3, "billed_cost": "10.5", "effective_cost": "10.50", "currency": "JPY"}],
        "gpu_usage": {"rows": "447840", "gpus": "55", "hosts": "14", "first_bucket": None},
        "allocation": [{"allocated": "12.345", "unallocated": None, "currency": "USD"}],
    }
    document: dict[str, Any] = status_document("/ledger", sections, "USD")
    assert document["gpu_usage"] == {"rows": 447840, "gpus": 55, "hosts": 14, "first_bucket": None}
    assert document["cost"][0]["billed_cost"] == "11"  # JPY has no minor unit
    assert document["allocation"][0] == {
        "allocated": "12.35",
        "unallocated": None,
        "currency": "USD",
    }


def test_status_csv_is_formula_safe() -> None:
    partition = {
        "x_BillingPeriod": OCT,
        "x_Source": "focus",
        "ProviderName": "=HYPERLINK(1)",
        "BillingAccountId": "a",
        "rows": 2,
        "billed_cost": "1",
        "effective_cost": "1",
        "currency": "USD",
        "invoiced": False,
    }
    (row,) = csv.DictReader(io.StringIO(status_csv([partition], "USD").decode()))
    assert (row["ProviderName"], row["billed_cost"], row["state"]) == (
        "'=HYPERLINK(1)",
        "1.00",
        "provisional",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["waste", "--format", "xlsx"], "add --out FILE"),
        (["recommend", "--out", "r.txt"], "--out writes csv, json or xlsx"),
    ],
    ids=["xlsx-needs-out", "table-to-out"],
)
def test_out_goes_with_a_file_format(month: Store, args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        CliRunner().invoke(app, ["--home", month.home, *args], catch_exceptions=False)
