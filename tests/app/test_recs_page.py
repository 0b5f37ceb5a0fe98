"""The recommendations page: a status change shows at once, app wording, evidence in sentences."""

from __future__ import annotations

import json

import pytest

from gpuledger.engine.recommend.status import statuses
from gpuledger.report.readmodel.recs import evidence_sentences
from tests.app.conftest import AppFactory, LedgerFiles

PAGE = "views/recommendations.py"


def test_status_change_updates_headline_and_table_without_reload(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(own_ledger, PAGE)
    assert at.metric[0].value == "$10.00"
    rec_id = at.selectbox(key="rec_id").value

    at.radio(key="rec_action").set_value("acknowledge")
    at.button[0].click().run()
    assert list(at.table[0].value["Status"]) == ["acknowledged"]
    assert at.success[0].value == f"{rec_id}: acknowledged"

    at.radio(key="rec_action").set_value("dismiss")
    at.text_input(key="rec_reason").input("reserved spare")
    at.button[0].click().run()
    assert at.metric[0].value == "$0.00"
    assert at.table[0].value.empty
    assert statuses(own_ledger.store().state)[rec_id]["status"] == "dismissed"


def test_dismissing_without_a_reason_asks_for_one_in_app_words(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(own_ledger, PAGE)
    at.radio(key="rec_action").set_value("dismiss")
    at.text_input(key="rec_reason").input("   ")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Give a reason for dismissing."]
    assert at.metric[0].value == "$10.00"


def test_evidence_is_shown_as_sentences(shared_ledger: LedgerFiles, open_app: AppFactory) -> None:
    at = open_app(shared_ledger, PAGE)
    evidence = next(m.value for m in at.markdown if m.value.startswith("- "))
    assert "{" not in evidence
    assert "Idle 1" in evidence
    assert "source: the instance's own bill this month" in evidence


EVIDENCE = {
    "price": {
        "provider": "AWS",
        "region": "us-east-1",
        "instance_type": "g5.xlarge",
        "on_demand_hourly": "1.006",
        "spot_hourly": "0.4",
        "source": "AWS price list API",
        "as_of": "2026-11-25",
        "approximate": False,
    },
    "billed_to_teams": {"nlp": "12.50", "vision": "2.00"},
    "odd_fact": [1, 2],
    "fingerprint": "abc",
}


@pytest.mark.parametrize(
    ("expected"),
    [
        "Price: 1.006 USD/h on demand and 0.40 USD/h spot for g5.xlarge in us-east-1 (AWS);"
        " source: AWS price list API, as of 2026-11-25.",
        "Billed to several teams this month: nlp $12.50, vision $2.00.",
        "odd_fact: 1, 2",
    ],
    ids=["price-with-source-and-date", "billed-teams", "unknown-fact-kept"],
)
def test_evidence_sentences(expected: str) -> None:
    sentences = evidence_sentences(json.dumps(EVIDENCE), "USD")
    assert expected in sentences
    assert not any("fingerprint" in s for s in sentences)
