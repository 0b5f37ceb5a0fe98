"""Tables as people read them: labels, money with separators, "—" for missing, totals, CSV."""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from types import ModuleType

import polars as pl
import pytest

from gpuledger.schema import UNALLOCATED
from tests.app.conftest import HOME_SCRIPT, AppFactory, LedgerFiles, table
from tests.app.ledger import NLP_LEAD

MONEY2 = pl.Decimal(38, 2)


@pytest.fixture
def ledger_ui(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(HOME_SCRIPT.parent))
    return importlib.import_module("ledger_ui")


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "team": ["nlp", "vision"],
            "cost": [Decimal("1234.50"), Decimal("0.25")],
            "previous": [None, Decimal("3.10")],
            "gpu_hours": [1000.25, None],
            "note": [None, "tagged"],
        },
        schema={
            "team": pl.String,
            "cost": MONEY2,
            "previous": MONEY2,
            "gpu_hours": pl.Float64,
            "note": pl.String,
        },
    )


LABELS = {
    "team": "Team",
    "cost": "Cost",
    "previous": "Last month",
    "gpu_hours": "GPU-hours",
    "note": "Note",
}


def test_cells_read_as_money_hours_and_dashes(ledger_ui: ModuleType) -> None:
    shown = ledger_ui.Table(_frame(), LABELS, "USD").with_total().text()
    assert shown.to_dicts() == [
        {
            "Team": "nlp",
            "Cost": "$1,234.50",
            "Last month": "—",
            "GPU-hours": "1,000.2",
            "Note": "—",
        },
        {
            "Team": "vision",
            "Cost": "$0.25",
            "Last month": "$3.10",
            "GPU-hours": "—",
            "Note": "tagged",
        },
        {
            "Team": "Total",
            "Cost": "$1,234.75",
            "Last month": "$3.10",
            "GPU-hours": "1,000.2",
            "Note": "—",
        },
    ]


def test_total_of_a_column_without_values_is_missing(ledger_ui: ModuleType) -> None:
    frame = _frame().with_columns(pl.lit(None, dtype=MONEY2).alias("previous"))
    shown = ledger_ui.Table(frame, LABELS, "EUR").with_total().text()
    assert shown["Last month"].to_list() == ["—", "—", "—"]
    assert shown["Cost"][-1] == "€1,234.75"


def test_csv_has_the_labels_and_exact_amounts(ledger_ui: ModuleType) -> None:
    csv = ledger_ui.Table(_frame(), LABELS, "USD").with_total().csv().decode()
    assert csv.splitlines() == [
        "Team,Cost,Last month,GPU-hours,Note",
        "nlp,1234.50,,1000.25,",
        "vision,0.25,3.10,,tagged",
        "Total,1234.75,3.10,1000.25,",
    ]


def test_team_statements_have_a_total_row_and_a_csv_button(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger)
    teams = at.table[0].value
    assert teams.loc["Total", "Total"] == "$28.00"  # 20.00 + 5.00 + 3.00 = the invoice
    assert teams.loc["Total", "Amount due"] == "$28.00"
    labels = {b.proto.label for b in at.get("download_button")}
    assert "CSV" in labels


def test_budget_is_shown_as_under_or_over(oidc_ledger: LedgerFiles, open_app: AppFactory) -> None:
    """nlp spent $20.00 of a $15.00 budget; for its lead the total row sums only what they see."""
    at = open_app(oidc_ledger, email=NLP_LEAD)
    teams = at.table[0].value
    assert teams.loc["nlp", "Against budget"] == "over by $5.00"
    assert teams.loc[UNALLOCATED, "Against budget"] == "—"
    assert teams.loc["Total", "Total"] == "$23.00"


def test_drill_down_tables_have_readable_values_and_totals(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger)
    at.selectbox(key="drill_team").select("vision").run()
    models = table(at, "model", "gpu_hours")
    assert list(models["model"]) == ["(unlabelled)", "Total"]
    assert list(models["cost"]) == [5.0, 5.0]


def _long_table() -> None:
    """A grid one row longer than the Styler is used for, shown as the app shows it."""
    from decimal import Decimal as D

    import polars as pl

    from ledger_ui import STYLED_ROWS, Table

    rows = STYLED_ROWS + 1
    frame = pl.DataFrame(
        {
            "team": [f"team-{i}" for i in range(rows)],
            "cost": [D("1.25")] * rows,
            "gpu_hours": [2.5] * rows,
        },
        schema={"team": pl.String, "cost": pl.Decimal(38, 2), "gpu_hours": pl.Float64},
    )
    columns = {"team": "Team", "cost": "Cost", "gpu_hours": "GPU-hours"}
    Table(frame, columns, "USD").with_total().show_grid("csv_long", "long.csv")


def test_a_long_grid_keeps_every_row_formatted_by_the_grid(
    ledger_ui: ModuleType,
) -> None:
    """Past STYLED_ROWS rows the grid formats money and hours itself; no row is left out."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_long_table).run()
    assert not at.exception
    grid = at.dataframe[0]
    assert len(grid.value) == ledger_ui.STYLED_ROWS + 2  # every row and the total
    assert grid.value.iloc[-1].tolist() == ["Total", 1.25 * (ledger_ui.STYLED_ROWS + 1), 2502.5]
    config = json.loads(grid.proto.columns)
    assert config["cost"]["type_config"]["format"] == "dollar"
    assert config["gpu_hours"]["type_config"]["format"] == "%.1f"
    assert config["team"]["pinned"]
