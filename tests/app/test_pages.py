"""Every page renders on the test ledger, shows the engine's numbers, and its filters filter.

Expected amounts are worked out by hand in ``tests/app/ledger.py``; each test also checks that
they are what the engine itself returns, so the page can neither invent nor drop a number.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.recommend.pipeline import current_recommendations
from gpuledger.engine.recommend.status import set_status, statuses
from gpuledger.engine.waste.compute import compute_waste, waste_totals
from gpuledger.schema import MONEY, QUARANTINE_SCHEMA, UNALLOCATED, Cost, Quarantine, Rec
from tests.app.conftest import AppFactory, LedgerFiles, table
from tests.app.ledger import september, write_config

PAGES = [
    ("views/chargeback.py", "Chargeback 2026-10 · provisional"),
    ("views/waste.py", "GPU waste 2026-10"),
    ("views/recommendations.py", "Recommendations 2026-10"),
    ("views/health.py", "Data health"),
]


@pytest.mark.parametrize(("page", "title"), PAGES, ids=[p.split("/")[1] for p, _ in PAGES])
def test_page_renders_without_exception(
    shared_ledger: LedgerFiles, open_app: AppFactory, page: str, title: str
) -> None:
    at = open_app(shared_ledger, page)
    assert at.title[0].value == title


def test_chargeback_headline_and_team_table_are_the_engines(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger)
    statements = build_statements(
        shared_ledger.store(), load_settings(shared_ledger.config), "2026-10"
    )
    assert (statements.invoice_total, statements.unallocated_total) == (
        Decimal("28.00"),
        Decimal("3.00"),
    )
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Invoice": "$28.00", "Allocated to teams": "$25.00", UNALLOCATED: "$3.00"}
    table = at.table[0].value
    assert list(table.index) == ["nlp", "vision", UNALLOCATED, "Total"]
    assert list(table["Total"]) == ["$20.00", "$5.00", "$3.00", "$28.00"]
    assert list(table["Last month"]) == ["$8.00", "$4.00", "—", "$12.00"]
    assert list(table["Change"]) == ["$12.00", "$1.00", "—", "$16.00"]
    assert list(table["Budget"]) == ["$15.00", "$10.00", "—", "$25.00"]
    assert list(table["Against budget"]) == ["over by $5.00", "under by $5.00", "—", "—"]
    assert [f"${t.total}" for t in statements.teams] == list(table["Total"])[:-1]


@pytest.mark.parametrize(
    ("team", "models", "costs"),
    [
        ("nlp", ["(idle)", "llama", "Total"], [10.0, 10.0, 20.0]),
        ("vision", ["(unlabelled)", "Total"], [5.0, 5.0]),
        (UNALLOCATED, ["(unlabelled)", "Total"], [3.0, 3.0]),
    ],
    ids=["nlp", "vision", "unallocated"],
)
def test_drill_down_follows_the_team_picked(
    shared_ledger: LedgerFiles,
    open_app: AppFactory,
    team: str,
    models: list[str],
    costs: list[float],
) -> None:
    at = open_app(shared_ledger)
    at.selectbox(key="drill_team").select(team).run()
    shown = table(at, "model", "gpu_hours")
    assert list(shown["model"]) == models
    assert list(shown["cost"]) == costs


def test_drill_down_reaches_the_instance(shared_ledger: LedgerFiles, open_app: AppFactory) -> None:
    at = open_app(shared_ledger)
    at.selectbox(key="drill_team").select("nlp").run()
    at.selectbox(key="drill_model").select("llama").run()
    lines = table(at, "gpu_model", "cost_type")
    assert list(zip(lines["gpu_model"], lines["cost"], strict=True)) == [
        ("A100", 10.0),
        ("Total", 10.0),
    ]
    assert lines["cost_type"][0] == "usage"
    instances = table(at, "ResourceId", "model", "gpu_model")
    assert list(zip(instances["ResourceId"], instances["cost"], strict=True)) == [
        ("i-nlp", 10.0),
        ("Total", 10.0),
    ]


def test_month_picker_shows_the_closed_month(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger)
    at.selectbox(key="period").select("2026-09").run()
    assert at.title[0].value == "Chargeback 2026-09 · closed"
    assert {m.label: m.value for m in at.metric}["Invoice"] == "$12.00"
    assert list(at.table[0].value["Total"]) == ["$8.00", "$4.00", "$12.00"]


def test_waste_page_shows_the_engines_waste(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/waste.py")
    settings = load_settings(shared_ledger.config)
    totals = waste_totals(compute_waste(shared_ledger.store(), settings, "2026-10"))
    assert totals["waste_cost"] == Decimal("10.00")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "GPU-hours": "2.0",
        "Idle GPU-hours": "1.0",
        "GPU cost": "$20.00",
        "Waste": "$10.00",
    }


@pytest.mark.parametrize(
    ("grouping", "columns", "keys"),
    [
        ("team", ["team", "waste_cost"], ["nlp"]),
        ("model", ["model", "team", "waste_cost"], ["(idle)", "llama"]),
        ("instance", ["instance", "team", "gpu_model", "waste_cost"], ["i-nlp"]),
    ],
    ids=["team", "model", "instance"],
)
def test_waste_grouping_changes_the_table(
    shared_ledger: LedgerFiles,
    open_app: AppFactory,
    grouping: str,
    columns: list[str],
    keys: list[str],
) -> None:
    at = open_app(shared_ledger, "views/waste.py")
    at.radio(key="waste_grouping").set_value(grouping).run()
    table = at.dataframe[0].value
    assert list(table.columns[: len(columns)]) == columns
    assert list(table[columns[0]]) == [*keys, "Total"]
    assert list(table["waste_cost"])[-1] == sum(table["waste_cost"][:-1]) == 10.0


def test_waste_team_filter_empties_the_table_and_headline(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/waste.py")
    at.multiselect(key="waste_teams").set_value([]).run()
    assert list(at.dataframe[0].value["team"]) == ["Total"]
    assert {m.label: m.value for m in at.metric}["Waste"] == "$0.00"


def test_recommendations_list_is_the_engines(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/recommendations.py")
    engine = current_recommendations(
        shared_ledger.store(), load_settings(shared_ledger.config), "2026-10"
    )
    shown = at.table[0].value
    assert list(shown.index) == engine[Rec.id].to_list()
    assert list(shown["Saving/mo"]) == [f"${v:,.2f}" for v in engine[Rec.monthly_saving]]
    assert at.metric[0].value == f"${engine[Rec.monthly_saving].sum():,.2f}"


def test_kind_filter_hides_recommendations(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/recommendations.py")
    at.multiselect(key="rec_kinds").set_value([]).run()
    assert at.table[0].value.empty


def test_dismiss_needs_a_reason_and_writes_the_clis_status(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(own_ledger, "views/recommendations.py")
    rec_id = at.selectbox(key="rec_id").value
    at.radio(key="rec_action").set_value("dismiss")
    at.button[0].click().run()
    assert at.error[0].value == "Give a reason for dismissing."
    assert statuses(own_ledger.store().state)[rec_id]["status"] == "new"

    at.radio(key="rec_action").set_value("dismiss")
    at.text_input(key="rec_reason").input("instance is a reserved spare")
    at.button[0].click().run()
    row = statuses(own_ledger.store().state)[rec_id]
    assert (row["status"], row["reason"]) == ("dismissed", "instance is a reserved spare")
    at.run()
    assert at.table[0].value.empty  # dismissed ones are hidden by default
    at.toggle(key="rec_closed").set_value(True).run()
    assert list(at.table[0].value["Status"]) == ["dismissed"]


def test_health_page_lists_gpus_without_telemetry_and_coverage(
    shared_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(shared_ledger, "views/health.py")
    untracked = table(at, "x_BillingPeriod", "instance", "EffectiveCost")
    assert list(zip(untracked["x_BillingPeriod"], untracked["ResourceId"], strict=True)) == [
        ("2026-10", "i-vis"),
        ("2026-09", "i-nlp"),
        ("2026-09", "i-vis"),
        ("Total", "—"),
    ]
    assert list(untracked["EffectiveCost"]) == [5.0, 8.0, 4.0, 17.0]
    coverage = table(at, "x_BillingPeriod", "basis", "cost", "share")
    october = coverage[coverage["x_BillingPeriod"] == "2026-10"]
    assert dict(zip(october["basis"], october["cost"], strict=True)) == {
        "tags": 5.0,
        "telemetry": 20.0,
        "unallocated": 3.0,
    }


def test_done_recommendation_shows_estimated_against_realized(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    """Marked done in September at a monthly cost of $30.00; i-nlp cost $20.00 in October."""
    store = own_ledger.store()
    rec = current_recommendations(store, load_settings(own_ledger.config), "2026-10").row(
        0, named=True
    )
    set_status(
        store.state,
        rec[Rec.id],
        "done",
        reason=None,
        period="2026-09",
        fingerprint="-",
        monthly_saving=Decimal("12.00"),
        monthly_cost=Decimal("30.00"),
    )
    at = open_app(own_ledger, "views/recommendations.py")
    outcomes = table(at, "id", "kind", "done_in")
    assert outcomes.to_dict("records")[0] == {
        "id": rec[Rec.id],
        "kind": "idle",
        "done_in": "2026-09",
        "estimated_saving": 12.0,
        "realized_saving": 10.0,
        "team": "nlp",
    }
    assert list(outcomes["id"]) == [rec[Rec.id], "Total"]


@pytest.mark.parametrize(("page", "title"), PAGES, ids=[p.split("/")[1] for p, _ in PAGES])
def test_an_empty_ledger_says_what_to_do(
    tmp_path: Path, open_app: AppFactory, page: str, title: str
) -> None:
    config = write_config(tmp_path)
    empty = LedgerFiles(tmp_path / "home", config)
    at = open_app(empty, page)
    if page.endswith("health.py"):
        assert at.info[0].value == "Nothing ingested yet."
    else:
        assert "holds no billing data yet" in at.info[0].value
        assert not at.metric


def test_restated_closed_month_shows_as_an_adjustment(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    """September was closed with i-nlp at $8.00; the restated invoice says $9.00 → +$1.00."""
    store = own_ledger.store()
    restated = september().with_columns(
        pl.when(pl.col(Cost.ResourceId) == "i-nlp")
        .then(pl.lit(Decimal("9.00")))
        .otherwise(pl.col(Cost.EffectiveCost))
        .cast(MONEY)
        .alias(Cost.EffectiveCost)
    )
    store.replace_partitions("cost", restated, [Cost.x_Source, Cost.x_BillingPeriod])
    run_attribution(store, load_settings(own_ledger.config), "2026-09")
    at = open_app(own_ledger)
    adjustments = table(at, "team", "corrects_period")
    assert adjustments[["team", "corrects_period", "cost"]].to_dict("records")[0] == {
        "team": "nlp",
        "corrects_period": "2026-09",
        "cost": 1.0,
    }
    teams = at.table[0].value
    assert (teams.loc["nlp", "Adjustments"], teams.loc["nlp", "Amount due"]) == ("$1.00", "$21.00")


def test_closed_month_drill_down_reads_the_allocation_it_was_closed_from(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    """After September's restatement its instances still show what was closed: i-nlp $8.00."""
    store = own_ledger.store()
    restated = september().with_columns(
        pl.lit(Decimal("9.00")).cast(MONEY).alias(Cost.EffectiveCost)
    )
    store.replace_partitions("cost", restated, [Cost.x_Source, Cost.x_BillingPeriod])
    run_attribution(store, load_settings(own_ledger.config), "2026-09")
    at = open_app(own_ledger)
    at.selectbox(key="period").select("2026-09").run()
    at.selectbox(key="drill_team").select("nlp").run()
    instances = table(at, "ResourceId", "model", "gpu_model")
    assert (instances["ResourceId"][0], instances["cost"][0]) == ("i-nlp", 8.0)


def test_quarantined_rows_and_their_cost_are_on_the_health_page(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    refused = pl.DataFrame(
        [
            {
                Quarantine.x_Source: "focus",
                Quarantine.x_BillingPeriod: "2026-10",
                Quarantine.file: "azure.csv",
                Quarantine.row: 7,
                Quarantine.column: "BilledCost",
                Quarantine.reason: "not a number",
                Quarantine.raw: "{}",
                Quarantine.cost: Decimal("4.20"),
                Quarantine.currency: "USD",
            }
        ],
        schema={k: QUARANTINE_SCHEMA[k] for k in QUARANTINE_SCHEMA if k != Quarantine.x_IngestId},
    )
    own_ledger.store().append("quarantine", refused)
    at = open_app(own_ledger, "views/health.py")
    assert {m.label: m.value for m in at.metric} == {"Quarantined rows": "1"}
    shown = table(at, "x_Source", "x_BillingPeriod", "reason")
    assert shown[["x_Source", "reason", "rows", "cost"]].to_dict("records") == [
        {"x_Source": "focus", "reason": "not a number", "rows": 1, "cost": "4.20"},
        {"x_Source": "Total", "reason": "—", "rows": 1, "cost": "—"},
    ]
