"""Alert e-mails through a real SMTP server: lead and finance once each, dismissed ones never."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

from gpuledger.report.email.delivery import RetryPolicy, SmtpTransport
from gpuledger.report.email.log import SlotStatus, send_records
from gpuledger.report.notify.deliver import Channels, deliver_alerts
from gpuledger.report.notify.message import alert_facts, email_content
from gpuledger.report.notify.status import DISMISSED, set_status
from gpuledger.store.state import StateDB
from tests.email.smtp_testserver import SmtpServer
from tests.notify.alert_factories import APP_URL, CFO, NLP_LEAD, anomaly, budget, settings

NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)


def channels(server: SmtpServer) -> Channels:
    transport = SmtpTransport(server.config, RetryPolicy(attempts=1))
    return Channels(mail=transport, sender=server.config.sender, webhook=None)


def received(server: SmtpServer) -> list[tuple[list[str], EmailMessage]]:
    return [
        (r.rcpt_tos, email.message_from_bytes(r.content, policy=email.policy.default))  # type: ignore[misc]
        for r in server.handler.received
    ]


def test_lead_and_finance_get_each_alert_once(state: StateDB, smtp_server: SmtpServer) -> None:
    alerts = [anomaly(), budget()]
    first = deliver_alerts(state, settings(), alerts, channels(smtp_server), clock=lambda: NOW)
    again = deliver_alerts(state, settings(), alerts, channels(smtp_server), clock=lambda: NOW)
    assert sorted((o.channel, o.result) for o in first) == [
        ("e-mail finance", "sent"),
        ("e-mail finance", "sent"),
        ("e-mail lead", "sent"),
        ("e-mail lead", "sent"),
    ]
    assert {o.result for o in again} == {"skipped"}
    assert sorted(tuple(to) for to, _ in received(smtp_server)) == [
        (CFO,),
        (CFO,),
        (NLP_LEAD,),
        (NLP_LEAD,),
    ]
    slots = {(r.key.team, r.key.kind, r.key.period, r.status) for r in send_records(state)}
    assert ("nlp", "alert", anomaly().id, SlotStatus.sent) in slots
    assert ("(finance)", "alert", budget().id, SlotStatus.sent) in slots


def test_the_message_links_to_the_alert_and_keeps_data_out_of_the_subject(
    state: StateDB, smtp_server: SmtpServer
) -> None:
    alert = anomaly(model="evil\r\nBcc: x@example.com")
    deliver_alerts(state, settings(finance=False), [alert], channels(smtp_server))
    ((_to, message),) = received(smtp_server)
    assert message["Subject"] == "GPU spend anomaly on 2026-10-14"
    assert message["Bcc"] is None
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{APP_URL}/alerts?period=2026-10&id={alert.id}" in text
    assert "i-0abc 8×H100: busy at 3 % SM for 31 h ($2,480.00)" in text
    assert "Above            +$2,520.50" in text


def test_a_dismissed_alert_is_not_sent(state: StateDB, smtp_server: SmtpServer) -> None:
    set_status(state, budget(), DISMISSED, "expected: the quarter's big training run")
    outcomes = deliver_alerts(state, settings(), [anomaly(), budget()], channels(smtp_server))
    assert ("all", "dismissed") in {(o.channel, o.result) for o in outcomes}
    assert {o.alert_id for o in outcomes if o.result == "sent"} == {anomaly().id}
    assert len(received(smtp_server)) == 2  # the anomaly, to the lead and finance


def test_a_team_without_a_lead_is_mailed_to_finance_only(
    state: StateDB, smtp_server: SmtpServer
) -> None:
    outcomes = deliver_alerts(state, settings(), [budget(team="vision")], channels(smtp_server))
    assert [(o.channel, o.result) for o in outcomes] == [("e-mail finance", "sent")]


def test_data_is_escaped_in_the_html_part() -> None:
    html = email_content(alert_facts(anomaly(model="<b>x</b>"), settings())).html
    assert "model &lt;b&gt;x&lt;/b&gt; (team nlp)" in html
    assert "<b>x</b>" not in html
