"""Roles: finance sees everything, a team lead only their team, whatever they type or click."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.config import load_settings
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.access import AccessDenied, Viewer, viewer_for
from gpuledger.report.readmodel.cached import Ledger
from gpuledger.schema import UNALLOCATED
from tests.app.conftest import HOME_SCRIPT, AppFactory, LedgerFiles
from tests.app.ledger import CFO, NLP_LEAD, VISION_LEAD


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        (CFO, Viewer(CFO, finance=True)),
        ("CFO@Example.com", Viewer("CFO@Example.com", finance=True)),
        (NLP_LEAD, Viewer(NLP_LEAD, finance=False, teams=frozenset({"nlp"}))),
        (VISION_LEAD, Viewer(VISION_LEAD, finance=False, teams=frozenset({"vision"}))),
        ("intern@example.com", None),
        (None, None),
    ],
    ids=["finance", "finance-any-case", "nlp-lead", "vision-lead", "no-role", "no-email"],
)
def test_roles_come_from_config(
    oidc_ledger: LedgerFiles, email: str | None, expected: Viewer | None
) -> None:
    assert viewer_for(load_settings(oidc_ledger.config), email) == expected


def test_finance_signed_in_sees_every_team_and_page(
    oidc_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(oidc_ledger, email=CFO)
    assert list(at.table[0].value.index) == ["nlp", "vision", UNALLOCATED, "Total"]
    assert {m.label for m in at.metric} == {"Invoice", "Allocated to teams", UNALLOCATED}
    at.switch_page("views/health.py").run()
    assert at.title[0].value == "Data health"


def test_team_lead_sees_only_their_team(oidc_ledger: LedgerFiles, open_app: AppFactory) -> None:
    at = open_app(oidc_ledger, email=NLP_LEAD)
    assert list(at.table[0].value.index) == ["nlp", UNALLOCATED, "Total"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Your teams' amount due": "$20.00", UNALLOCATED: "$3.00"}
    assert at.selectbox(key="drill_team").options == ["nlp", UNALLOCATED]
    # only the CSVs of the tables on the page; the exports hold every team
    assert {button.proto.label for button in at.get("download_button")} == {"CSV"}


def test_team_lead_url_tampering_shows_no_other_team(
    oidc_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    """A link naming another team opens the lead's own view with an access message.

    (A forged widget value cannot even be expressed through a selectbox, and the read model
    refuses another team's rows anyway: see the read-model tests below.)
    """
    at = open_app(oidc_ledger, email=NLP_LEAD)
    at.query_params["team"] = "vision"
    at.query_params["period"] = "2026-09"
    at.run()
    assert not at.exception
    assert at.title[0].value == "Chargeback 2026-09 · closed"
    assert [w.value for w in at.warning] == ["Team vision is not among the teams you may see."]
    assert at.query_params["team"] == "nlp"
    assert at.selectbox(key="drill_team").options == ["nlp"]  # September had no unallocated
    assert all("vision" not in d.value.to_string() for d in at.dataframe)
    assert list(at.table[0].value.index) == ["nlp", "Total"]


def test_team_lead_waste_and_recommendations_are_their_own(
    oidc_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(oidc_ledger, "views/waste.py", email=VISION_LEAD)
    assert {m.label: m.value for m in at.metric}["Waste"] == "$0.00"
    at.switch_page("views/recommendations.py").run()
    assert at.table[0].value.empty  # the idle finding is nlp's


def test_team_lead_has_no_data_health_page(oidc_ledger: LedgerFiles, open_app: AppFactory) -> None:
    at = open_app(oidc_ledger, email=NLP_LEAD)
    with pytest.raises(ValueError, match="health"):
        at.switch_page("views/health.py").run()


@pytest.mark.parametrize(
    "read",
    [
        readmodel.health,
        lambda ledger, lead: readmodel.instance_costs(ledger, "2026-10", lead, "vision"),
        lambda ledger, lead: readmodel.download(ledger, "2026-10", lead, "csv"),
    ],
    ids=["health", "other-team-instances", "export"],
)
def test_read_model_refuses_a_lead_whatever_the_page_asks(oidc_ledger: LedgerFiles, read) -> None:  # type: ignore[no-untyped-def]
    lead = Viewer(NLP_LEAD, finance=False, teams=frozenset({"nlp"}))
    with pytest.raises(AccessDenied):
        read(Ledger(str(oidc_ledger.home), str(oidc_ledger.config)), lead)


def test_lead_cannot_change_another_teams_recommendation(own_ledger: LedgerFiles) -> None:
    ledger = Ledger(str(own_ledger.home), str(own_ledger.config))
    finance = Viewer(CFO, finance=True)
    rec_id = readmodel.recommendations(ledger, "2026-10", finance).rows["id"][0]
    vision = Viewer(VISION_LEAD, finance=False, teams=frozenset({"vision"}))
    with pytest.raises(AccessDenied):
        readmodel.change_status(ledger, "2026-10", vision, rec_id, "acknowledge", None)


def test_signed_out_visitor_gets_a_login_button(
    oidc_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(oidc_ledger, email=None)
    assert at.button[0].label == "Log in"
    assert not at.metric


def test_signed_in_without_a_role_sees_no_numbers(
    oidc_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(oidc_ledger, email="intern@example.com")
    assert "has no role" in at.error[0].value
    assert not at.metric
    assert not at.table


def signed_in_cfo(
    monkeypatch: pytest.MonkeyPatch, ledger: LedgerFiles, verified: object
) -> AppTest:
    """The CFO signed in through OIDC, whose provider says ``email_verified: verified``."""
    monkeypatch.setenv("GPULEDGER_HOME", str(ledger.home))
    monkeypatch.setenv("GPULEDGER_CONFIG", str(ledger.config))
    at = AppTest.from_file(str(HOME_SCRIPT), default_timeout=60)
    at.user = {"is_logged_in": True, "email": CFO, "name": CFO, "email_verified": verified}
    at.run()
    assert not at.exception
    return at


@pytest.mark.parametrize(
    "verified", [False, "false", "False", 0], ids=["false", "string-false", "string-False", "zero"]
)
def test_unverified_finance_email_gets_no_role(
    oidc_ledger: LedgerFiles, verified: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = signed_in_cfo(monkeypatch, oidc_ledger, verified)
    assert "not verified" in at.error[0].value
    assert not at.metric
    assert not at.table


@pytest.mark.parametrize("verified", [True, "true"], ids=["true", "string-true"])
def test_verified_finance_email_sees_finance_view(
    oidc_ledger: LedgerFiles, verified: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = signed_in_cfo(monkeypatch, oidc_ledger, verified)
    assert {m.label for m in at.metric} == {"Invoice", "Allocated to teams", UNALLOCATED}
