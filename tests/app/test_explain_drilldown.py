"""The chargeback drill-down explains the line picked: `gpuledger explain`'s rules and sources.

Amounts from ``tests/app/ledger.py``: in 2026-10 nlp's llama line is $10.00, the busy hour of
i-nlp's $20.00 (telemetry); its idle hour ($10.00) is nlp's (idle) line by idle:owner.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.explain import explain
from gpuledger.report.readmodel.access import AccessDenied, Viewer
from gpuledger.report.readmodel.chargeback import line_explanation
from gpuledger.schema import MONEY, Cost
from tests.app.conftest import AppFactory, LedgerFiles, table
from tests.app.ledger import NLP_LEAD, september


@pytest.mark.parametrize(
    ("model", "option", "rule"),
    [
        ("llama", "A100 · usage · $10.00", "telemetry"),
        ("(idle)", "A100 · idle · $10.00", "idle:owner"),
    ],
    ids=["telemetry", "idle"],
)
def test_drill_down_explains_the_line_picked(
    shared_ledger: LedgerFiles, open_app: AppFactory, model: str, option: str, rule: str
) -> None:
    at = open_app(shared_ledger)
    at.selectbox(key="drill_team").select("nlp").run()
    at.selectbox(key="drill_model").select(model).run()
    assert at.selectbox(key="explain_line").options == [option]
    rules = table(at, "rule", "cost")
    assert list(zip(rules["rule"], rules["cost"], strict=True)) == [(rule, 10.0)]
    sources = table(at, "source", "day")
    shown = zip(
        sources["ResourceId"], sources["original"], sources["share"], sources["cost"], strict=True
    )
    assert list(shown) == [("i-nlp", 20.0, 0.5, 10.0)]  # half of i-nlp's $20.00
    statements = build_statements(
        shared_ledger.store(), load_settings(shared_ledger.config), "2026-10"
    )
    (engine,) = explain(shared_ledger.store(), statements, "nlp", model=model)
    assert [s.cost for s in engine.sources] == [Decimal("10.00")]
    assert any(engine.line_id in caption.value for caption in at.caption)


def test_closed_month_drill_down_says_the_line_was_restated(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    """September was closed at $8.00 for nlp; billing restated it to $9.00 since."""
    store = own_ledger.store()
    restated = september().with_columns(
        pl.lit(Decimal("9.00")).cast(MONEY).alias(Cost.EffectiveCost)
    )
    store.replace_partitions("cost", restated, [Cost.x_Source, Cost.x_BillingPeriod])
    run_attribution(store, load_settings(own_ledger.config), "2026-09")
    at = open_app(own_ledger)
    at.selectbox(key="period").select("2026-09").run()
    at.selectbox(key="drill_team").select("nlp").run()
    rules = table(at, "rule", "cost")
    assert list(zip(rules["rule"], rules["cost"], strict=True)) == [("tag:team", 8.0)]
    warnings = [w.value for w in at.warning]
    assert any("restated since" in w and "9.00 USD" in w for w in warnings), warnings


def test_a_lead_cannot_explain_another_teams_line(shared_ledger: LedgerFiles) -> None:
    lead = Viewer(NLP_LEAD, finance=False, teams=frozenset({"nlp"}))
    store, settings = shared_ledger.store(), load_settings(shared_ledger.config)
    with pytest.raises(AccessDenied):
        line_explanation(store, settings, "2026-10", lead, "vision", "1")
    assert line_explanation(store, settings, "2026-10", lead, "nlp", "1").team == "nlp"
