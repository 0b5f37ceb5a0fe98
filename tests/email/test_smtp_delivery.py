"""Exactly-once delivery through a real SMTP server: one per lead, retries, refusals, re-runs."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from gpuledger.config import SmtpConfig
from gpuledger.errors import ConfigError
from gpuledger.report.email.delivery import RetryPolicy, SmtpTransport
from gpuledger.report.email.dispatch import Outgoing, deliver
from gpuledger.report.email.log import SlotStatus, send_records
from gpuledger.store.delta import Store
from tests.email.email_factories import finance, savings
from tests.email.smtp_testserver import SmtpServer, free_port

pytestmark = pytest.mark.slow

NO_WAIT = RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
LEADS = {"nlp": "lead-nlp@example.com", "vision": "lead-vision@example.com"}


def team_mail() -> list[Outgoing]:
    return [savings(team, lead) for team, lead in LEADS.items()]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def send(store: Store, server: SmtpServer, items: list[Outgoing]) -> list[str]:
    transport = SmtpTransport(server.config, NO_WAIT)
    outcomes = deliver(store.state, items, transport, server.config.sender)
    return [o.result for o in outcomes]


def test_one_message_per_lead_with_both_parts_and_the_inline_chart(
    store: Store, smtp_server: SmtpServer
) -> None:
    assert send(store, smtp_server, team_mail()) == ["sent", "sent"]

    received = smtp_server.handler.received
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(LEADS.values())
    assert all(len(r.rcpt_tos) == 1 and r.mail_from == "gpuledger@example.com" for r in received)
    for item in received:
        message = parse(item.content)
        team = next(t for t, lead in LEADS.items() if lead == item.rcpt_tos[0])
        assert message["To"] == LEADS[team]
        assert message.get_content_type() == "multipart/alternative"
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert plain is not None
        assert html is not None
        assert f"GPU spend for team {team}" in plain.get_content()
        assert "$12,345.67" in plain.get_content()
        assert "$12,345.67" in html.get_content()
        related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
        assert len(related) == 1
        images = [p for p in message.walk() if p.get_content_type() == "image/png"]
        assert len(images) == 1
        cid = images[0]["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html.get_content()
        assert images[0].get_content()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finance_gets_the_summary_with_the_workbook_attached(
    store: Store, smtp_server: SmtpServer
) -> None:
    assert send(store, smtp_server, [finance(("cfo@example.com", "ap@example.com"))]) == ["sent"]

    (item,) = smtp_server.handler.received
    assert item.rcpt_tos == ["cfo@example.com", "ap@example.com"]
    message = parse(item.content)
    assert message.get_content_type() == "multipart/mixed"
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "gpuledger-chargeback-2026-10.xlsx"
    assert attachment.get_content() == b"PK\x03\x04 workbook bytes"
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "$30,000.00" in plain.get_content()


def test_rerunning_sends_nothing_new_even_when_the_numbers_changed(
    store: Store, smtp_server: SmtpServer
) -> None:
    send(store, smtp_server, team_mail())
    changed = [savings(team, lead, spend=1) for team, lead in LEADS.items()]

    assert send(store, smtp_server, changed) == ["skipped", "skipped"]
    assert send(store, smtp_server, team_mail()) == ["skipped", "skipped"]
    assert len(smtp_server.handler.received) == 2
    assert {r.status for r in send_records(store.state)} == {SlotStatus.sent}


@pytest.mark.parametrize(
    ("rcpt_replies", "data_replies", "results", "delivered", "rcpt_commands"),
    [
        (["451 4.3.0 try again later"], [], ["sent"], 1, 2),
        ([], ["451 4.3.0 queue full"], ["sent"], 1, 2),
        (["451 4.3.0 busy", "421 4.3.2 shutting down"], [], ["sent"], 1, 3),
        (["451 busy"] * 3, [], ["retry-later"], 0, 3),
        (["550 5.1.1 no such user"], [], ["failed"], 0, 1),
        ([], ["554 5.6.0 message refused"], ["failed"], 0, 1),
    ],
    ids=[
        "451-at-rcpt-then-250",
        "451-at-data-then-250",
        "two-transient-then-250",
        "transient-outlasts-retries",
        "550-at-rcpt",
        "554-at-data",
    ],
)
def test_transient_replies_retry_and_permanent_ones_do_not(
    store: Store,
    smtp_server: SmtpServer,
    rcpt_replies: list[str],
    data_replies: list[str],
    results: list[str],
    delivered: int,
    rcpt_commands: int,
) -> None:
    smtp_server.handler.rcpt_replies.extend(rcpt_replies)
    smtp_server.handler.data_replies.extend(data_replies)

    assert send(store, smtp_server, [savings("nlp", LEADS["nlp"])]) == results
    assert len(smtp_server.handler.received) == delivered
    assert len(smtp_server.handler.rcpt_seen) == rcpt_commands


def test_a_550_is_recorded_and_never_retried(store: Store, smtp_server: SmtpServer) -> None:
    smtp_server.handler.rcpt_replies.append("550 5.1.1 <lead-nlp@example.com>: no such user")
    send(store, smtp_server, [savings("nlp", LEADS["nlp"])])

    assert send(store, smtp_server, [savings("nlp", LEADS["nlp"])]) == ["skipped"]
    assert len(smtp_server.handler.rcpt_seen) == 1
    (record,) = send_records(store.state, SlotStatus.failed)
    assert record.attempts == 1
    assert record.last_error is not None
    assert "550 5.1.1" in record.last_error


def test_transient_failure_is_left_for_the_next_run_which_delivers_it(
    store: Store, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.rcpt_replies.extend(["451 busy"] * 3)
    assert send(store, smtp_server, [savings("nlp", LEADS["nlp"])]) == ["retry-later"]
    (pending,) = send_records(store.state)
    assert pending.status is SlotStatus.pending

    assert send(store, smtp_server, [savings("nlp", LEADS["nlp"])]) == ["sent"]
    assert send(store, smtp_server, [savings("nlp", LEADS["nlp"])]) == ["skipped"]
    assert len(smtp_server.handler.received) == 1
    (sent,) = send_records(store.state)
    assert (sent.status, sent.attempts) == (SlotStatus.sent, 2)


def test_connection_refused_is_transient(store: Store) -> None:
    config = SmtpConfig(host="127.0.0.1", port=free_port(), starttls=False)
    transport = SmtpTransport(config, NO_WAIT)

    outcomes = deliver(store.state, [savings("nlp", LEADS["nlp"])], transport, config.sender)

    assert [o.result for o in outcomes] == ["retry-later"]
    assert transport.attempts == NO_WAIT.attempts
    (record,) = send_records(store.state)
    assert record.status is SlotStatus.pending
    assert "Connection refused" in (record.last_error or "")


@pytest.mark.parametrize(
    "lead",
    ["not-an-address", "lead@example.com\r\nBcc: everyone@example.com", "a@b.com, c@d.com"],
    ids=["no-at-sign", "header-injection", "two-addresses"],
)
def test_a_bad_address_is_a_recorded_permanent_failure(
    store: Store, smtp_server: SmtpServer, lead: str
) -> None:
    assert send(store, smtp_server, [savings("nlp", lead)]) == ["failed"]
    assert smtp_server.handler.rcpt_seen == []
    (record,) = send_records(store.state, SlotStatus.failed)
    assert "bad address" in (record.last_error or "")


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"starttls": True}, "SMTP server: STARTTLS extension not supported by server."),
        ({"username": "gpuledger"}, "SMTP server: SMTP AUTH extension not supported by server."),
    ],
    ids=["no-starttls", "no-auth-over-plain-text"],
)
def test_settings_the_server_refuses_leave_the_message_for_the_next_run(
    store: Store,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, object],
    error: str,
) -> None:
    """A setup problem is not the message's fault: not failed for good, not retried in the run."""
    monkeypatch.setenv("GPULEDGER_SMTP_PASSWORD", "s3cret")
    config = smtp_server.config.model_copy(update=settings)
    transport = SmtpTransport(config, NO_WAIT)

    outcomes = deliver(store.state, [savings("nlp", LEADS["nlp"])], transport, config.sender)

    assert [(o.result, o.detail) for o in outcomes] == [("retry-later", error)]
    assert transport.attempts == 1
    (record,) = send_records(store.state)
    assert record.status is SlotStatus.pending
    assert send(store, smtp_server, [savings("nlp", LEADS["nlp"])]) == ["sent"]


def test_a_bad_sender_refuses_the_run_and_records_nothing(
    store: Store, smtp_server: SmtpServer
) -> None:
    transport = SmtpTransport(smtp_server.config, NO_WAIT)

    with pytest.raises(ConfigError, match=r"smtp\.sender: bad address 'gpuledger'"):
        deliver(store.state, [savings("nlp", LEADS["nlp"])], transport, "gpuledger")

    assert send_records(store.state) == []
    assert transport.attempts == 0
