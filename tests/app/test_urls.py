"""URLs are state: a link opens exactly the view it names, and choosing a view changes the URL.

The e-mails link to ``/chargeback?period=…`` and ``/recommendations?team=…&period=…``
(``gpuledger.report.email.digest.app_link``); these tests open those links as a new visitor does:
the query string is there before the first run.
"""

from __future__ import annotations

import pytest

from gpuledger.config import load_settings
from gpuledger.report.email.digest import app_link
from gpuledger.schema import UNALLOCATED
from tests.app.conftest import LedgerFiles, open_link, table
from tests.app.ledger import NLP_LEAD, VISION_LEAD


def test_chargeback_link_opens_its_month(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger, "views/chargeback.py", period="2026-09")
    assert at.title[0].value == "Chargeback 2026-09 · closed"
    assert {m.label: m.value for m in at.metric}["Invoice"] == "$12.00"
    assert at.query_params["period"] == "2026-09"


def test_chargeback_link_opens_its_team_and_model(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(
        monkeypatch,
        shared_ledger,
        "views/chargeback.py",
        period="2026-10",
        team="nlp",
        model="llama",
    )
    assert at.selectbox(key="drill_team").value == "nlp"
    assert at.selectbox(key="drill_model").value == "llama"
    lines = table(at, "gpu_model", "cost_type")
    assert list(lines["cost"]) == [10.0, 10.0]  # the llama line and its total


def test_recommendations_link_opens_its_team_and_month(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    """September has no recommendations; vision has none in October: the link is obeyed."""
    at = open_link(
        monkeypatch, shared_ledger, "views/recommendations.py", team="vision", period="2026-10"
    )
    assert at.title[0].value == "Recommendations 2026-10"
    assert at.selectbox(key="rec_team").value == "vision"
    assert at.table[0].value.empty
    assert at.metric[0].value == "$0.00"
    at.selectbox(key="rec_team").select("nlp").run()
    assert list(at.table[0].value["Team"]) == ["nlp"]
    assert at.query_params["team"] == "nlp"


@pytest.mark.parametrize(
    ("page", "query", "title"),
    [
        ("chargeback", {"period": "2026-09"}, "Chargeback 2026-09 · closed"),
        ("recommendations", {"team": "nlp", "period": "2026-09"}, "Recommendations 2026-09"),
    ],
    ids=["chargeback", "recommendations"],
)
def test_email_links_open_the_view_they_name(
    monkeypatch: pytest.MonkeyPatch,
    shared_ledger: LedgerFiles,
    page: str,
    query: dict[str, str],
    title: str,
) -> None:
    link = app_link(load_settings(shared_ledger.config), page, **query)
    assert link.split("/")[-1] == f"{page}?" + "&".join(f"{k}={v}" for k, v in query.items())
    at = open_link(monkeypatch, shared_ledger, f"views/{page}.py", **query)
    assert at.title[0].value == title
    assert {k: at.query_params[k] for k in query} == query


def test_choosing_a_month_and_team_changes_the_url(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger, "views/chargeback.py")
    assert at.query_params["period"] == "2026-10"
    at.selectbox(key="period").select("2026-09").run()
    at.selectbox(key="drill_team").select("vision").run()
    assert (at.query_params["period"], at.query_params["team"]) == ("2026-09", "vision")


def test_recommendation_filters_live_in_the_url(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger, "views/recommendations.py", kind="spot", closed="1")
    assert at.multiselect(key="rec_kinds").value == ["idle"]  # no spot finding: every kind
    assert at.toggle(key="rec_closed").value is True
    assert [w.value for w in at.warning] == ["spot is not offered here."]
    at.multiselect(key="rec_kinds").set_value([]).run()
    at.toggle(key="rec_closed").set_value(False).run()
    assert at.query_params.get("kind") is None  # none chosen: nothing to name
    assert "closed" not in at.query_params
    assert at.table[0].value.empty


def test_unknown_month_in_a_link_says_so(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger, "views/chargeback.py", period="2031-01")
    assert at.title[0].value == "Chargeback 2026-10 · provisional"
    assert [w.value for w in at.warning] == [
        "The ledger holds no data for 2031-01; showing 2026-10."
    ]


@pytest.mark.parametrize(
    "page", ["views/chargeback.py", "views/recommendations.py"], ids=["chargeback", "recs"]
)
def test_a_lead_cannot_reach_another_team_by_url(
    monkeypatch: pytest.MonkeyPatch, oidc_ledger: LedgerFiles, page: str
) -> None:
    at = open_link(monkeypatch, oidc_ledger, page, email=VISION_LEAD, team="nlp")
    assert [w.value for w in at.warning] == ["Team nlp is not among the teams you may see."]
    shown = " ".join(d.value.to_string() for d in at.dataframe)
    shown += " ".join(t.value.to_string() for t in at.table)
    assert "nlp" not in shown
    assert at.query_params.get("team") in {None, "vision"}


def test_a_lead_link_to_their_own_team_opens_it(
    monkeypatch: pytest.MonkeyPatch, oidc_ledger: LedgerFiles
) -> None:
    at = open_link(
        monkeypatch, oidc_ledger, "views/chargeback.py", email=NLP_LEAD, team=UNALLOCATED
    )
    assert at.selectbox(key="drill_team").value == UNALLOCATED
    assert not at.warning
