"""The Alerts page: budgets and alerts by team, the deep link of a message, status buttons, the chart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.config import Settings, load_settings
from gpuledger.engine.alerts.model import Alert, Driver
from gpuledger.report.notify import detected
from gpuledger.report.notify.message import alert_link
from gpuledger.report.notify.status import DISMISSED, statuses
from gpuledger.store.delta import Store
from tests.app.conftest import LedgerFiles
from tests.app.conftest import open_link as open_page
from tests.app.ledger import NLP_LEAD, VISION_LEAD

PAGE = "views/alerts.py"


def budget_alert(ledger: LedgerFiles, team: str, threshold: float) -> Alert:
    """The engine's budget alert of ``team`` at ``threshold`` (of the test ledger's 2026-10)."""
    found = detected.month_alerts(ledger.store(), load_settings(ledger.config), "2026-10")
    return next(a for a in found if (a.team, a.threshold, a.forecast) == (team, threshold, False))


def open_link(
    monkeypatch: pytest.MonkeyPatch, ledger: LedgerFiles, email: str | None = None, **query: str
) -> AppTest:
    """A new session on the Alerts page with ``?query``, as a message's link opens it."""
    return open_page(monkeypatch, ledger, PAGE, email, **query)


def test_page_shows_budget_states_and_open_alerts(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    at = open_link(monkeypatch, shared_ledger)
    assert at.title[0].value == "Alerts 2026-10"
    budgets = at.table[0].value
    assert list(budgets.index) == ["nlp", "vision", "(unallocated)"]
    assert list(budgets["State"]) == ["over", "forecast over", "no budget"]
    assert list(budgets["Month to date"]) == ["$20.00", "$5.00", "$3.00"]
    alerts = at.table[1].value
    assert sorted(alerts["Team"]) == ["nlp", "nlp", "nlp", "vision"]
    assert {m.label: m.value for m in at.metric}["Open alerts"] == "4"


def test_the_link_of_a_message_opens_its_alert(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    alert = budget_alert(shared_ledger, "nlp", 1.0)
    link = alert_link(Settings(), alert)
    assert link.endswith(f"/alerts?period=2026-10&id={alert.id}")
    at = open_link(monkeypatch, shared_ledger, period="2026-10", id=alert.id)
    assert at.selectbox(key="alert_id").value == alert.id
    assert any(alert.title in m.value for m in at.markdown)
    assert at.query_params["id"] == alert.id


def test_dismiss_records_the_status_and_closes_the_alert(
    monkeypatch: pytest.MonkeyPatch, own_ledger: LedgerFiles
) -> None:
    alert = budget_alert(own_ledger, "nlp", 0.8)
    at = open_link(monkeypatch, own_ledger, id=alert.id)
    at.button(key="alert_dismiss").click().run()
    assert not at.exception
    assert at.success[0].value == f"{alert.id}: dismissed"
    assert statuses(own_ledger.store().state)[alert.id].status == DISMISSED
    assert {m.label: m.value for m in at.metric}["Open alerts"] == "3"
    assert alert.id not in list(at.table[1].value.index)


def test_a_team_lead_sees_their_teams_alerts_only(
    monkeypatch: pytest.MonkeyPatch, oidc_ledger: LedgerFiles
) -> None:
    nlp_alert = budget_alert(oidc_ledger, "nlp", 1.0)
    at = open_link(monkeypatch, oidc_ledger, email=VISION_LEAD, id=nlp_alert.id)
    assert [w.value for w in at.warning] == [
        f"No alert {nlp_alert.id} in 2026-10 among the alerts you may see."
    ]
    assert list(at.table[0].value.index) == ["vision"]
    assert list(at.table[1].value["Team"]) == ["vision"]
    assert at.selectbox(key="alert_id").value != nlp_alert.id
    at = open_link(monkeypatch, oidc_ledger, email=NLP_LEAD, id=nlp_alert.id)
    assert at.selectbox(key="alert_id").value == nlp_alert.id


def test_an_anomaly_shows_its_series_with_the_band_and_marked_day(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: LedgerFiles
) -> None:
    spike = Alert(
        id="ano-test-spike",
        kind="anomaly",
        period="2026-10",
        team="nlp",
        dimension="team",
        key="nlp",
        day=date(2026, 10, 1),
        expected=Decimal("2.00"),
        actual=Decimal("20.00"),
        impact=Decimal("18.00"),
        title="team nlp spent 10× its usual Thursday",
        explanation="i-nlp 1×A100 idle for 1 h",
        drivers=(Driver("i-nlp 1×A100", "idle for 1 h", Decimal("10.00")),),
    )
    found = detected.month_alerts

    def with_spike(store: Store, settings: Settings, period: str, **kw: object) -> list[Alert]:
        return [spike, *found(store, settings, period)]

    monkeypatch.setattr(detected, "month_alerts", with_spike)
    at = open_link(monkeypatch, shared_ledger, id=spike.id)
    assert {m.label: m.value for m in at.metric}["Impact"] == "$18.00"
    assert any("i-nlp 1×A100: idle for 1 h ($10.00)" in m.value for m in at.markdown)
    (chart,) = at.get("vega_lite_chart")
    assert "anomalous" in chart.proto.spec
