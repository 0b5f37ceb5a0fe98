"""Message building: parts, escaping, headers that data never reaches, content hash, money."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage

import pytest

from gpuledger.errors import DeliveryError
from gpuledger.report.email.digest import TeamCharge
from gpuledger.report.email.message import (
    Rendered,
    build_message,
    chargeback_content,
    checked_label,
    message_id,
    money,
    savings_content,
    signed_money,
)
from tests.email.email_factories import finance_digest, recommendation, team_digest

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script>\r\nBcc: all@example.com'


def build(content: Rendered, recipients: tuple[str, ...] = ("lead@example.com",)) -> EmailMessage:
    raw = build_message(
        content,
        sender="gpuledger@example.com",
        recipients=recipients,
        msg_id="<1@example.com>",
        date=NOW,
    )
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_hostile_team_and_model_names_are_escaped_in_html_and_never_reach_a_header() -> None:
    digest = team_digest(HOSTILE, recommendations=(recommendation(model=HOSTILE, action=HOSTILE),))
    message = build(savings_content(digest, "2026-W45"))

    html = message.get_body(("html",))
    plain = message.get_body(("plain",))
    assert html is not None
    assert plain is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html.get_content()
    assert HOSTILE in plain.get_content()  # plain text shows it as text
    assert message["Bcc"] is None
    assert message["Subject"] == "GPU spend and savings, week 2026-W45"
    assert all("script" not in str(value) for _, value in message.items())


@pytest.mark.parametrize(
    ("label", "subject"),
    [
        ("2026-10", "GPU spend and savings, 2026-10"),
        ("2026-W45", "GPU spend and savings, week 2026-W45"),
        ("2026-W01", "GPU spend and savings, week 2026-W01"),
    ],
    ids=["period", "week", "first-week"],
)
def test_subject_holds_only_the_label(label: str, subject: str) -> None:
    assert savings_content(team_digest(), label).subject == subject


@pytest.mark.parametrize(
    "label",
    ["2026-13", "2026-W54", "2026-10\r\nBcc: x@example.com", "nlp"],
    ids=["month-13", "week-54", "injection", "a-team-name"],
)
def test_labels_outside_the_pattern_are_refused(label: str) -> None:
    with pytest.raises(ValueError, match="not a period or ISO week label"):
        checked_label(label)


@pytest.mark.parametrize(
    "recipient",
    ["lead@example.com\nBcc: x@example.com", "Lead <lead@example.com>", "lead@", ""],
    ids=["newline", "display-name", "no-domain", "empty"],
)
def test_recipients_must_be_plain_addresses(recipient: str) -> None:
    with pytest.raises(DeliveryError, match="bad address") as caught:
        build(savings_content(team_digest(), "2026-10"), (recipient,))
    assert not caught.value.transient


def test_new_recommendations_are_marked_and_listed_in_the_given_order() -> None:
    recs = (
        recommendation("a", status="new", action="Move training to spot"),
        recommendation("b", status="acknowledged", action="Shut down idle i-0abc"),
    )
    digest = team_digest(
        recommendations=recs, hidden_recommendations=3, open_saving=Decimal("2400.00")
    )
    text = savings_content(digest, "2026-10").text
    assert text.index("1. [NEW] Move training to spot") < text.index("2. Shut down idle i-0abc")
    assert "Save up to $2,400.00 a month" in text
    assert "...and 3 more in the app." in text


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({}, "vs. last month:  +$2,345.67 (+23.5 % of $10,000.00)"),
        (
            {"previous_spend": Decimal("20000.00")},
            "vs. last month:  -$7,654.33 (-38.3 % of $20,000.00)",
        ),
        ({"previous_spend": None}, "vs. last month:  – (no spend last month)"),
        ({"recommendations": ()}, "No open recommendations."),
    ],
    ids=["up", "down", "no-previous-month", "nothing-to-recommend"],
)
def test_plain_text_figures(changes: dict[str, object], line: str) -> None:
    assert line in savings_content(team_digest(**changes), "2026-10").text


@pytest.mark.parametrize(
    ("value", "currency", "text", "signed"),
    [
        (Decimal("1234.5"), "USD", "$1,234.50", "+$1,234.50"),
        (Decimal("-0.01"), "EUR", "-€0.01", "-€0.01"),
        (Decimal("0"), "CHF", "0.00 CHF", "0.00 CHF"),
        (None, "USD", "–", "–"),
    ],
    ids=["usd", "negative-eur", "no-symbol", "missing"],
)
def test_money(value: Decimal | None, currency: str, text: str, signed: str) -> None:
    assert money(value, currency) == text
    assert signed_money(value, currency) == signed


def test_content_hash_is_stable_and_follows_every_part() -> None:
    first = savings_content(team_digest(), "2026-10")
    again = savings_content(team_digest(), "2026-10")
    other_chart = savings_content(team_digest(daily=()), "2026-10")
    other_text = savings_content(team_digest(waste=Decimal("1")), "2026-10")

    assert first.content_hash() == again.content_hash()
    assert len({first.content_hash(), other_chart.content_hash(), other_text.content_hash()}) == 3


def test_message_id_depends_on_slot_and_content_and_uses_the_sender_domain() -> None:
    ids = {
        message_id("nlp/savings/2026-10", "h1", "g@mail.example.com"),
        message_id("nlp/savings/2026-11", "h1", "g@mail.example.com"),
        message_id("nlp/savings/2026-10", "h2", "g@mail.example.com"),
    }
    assert len(ids) == 3
    assert all(i.startswith("<") and i.endswith("@mail.example.com>") for i in ids)


ADJUSTED = (
    TeamCharge("nlp", Decimal("20000.00"), Decimal("-150.00"), Decimal("19850.00")),
    TeamCharge("(unallocated)", Decimal("10000.00"), Decimal("0"), Decimal("10000.00")),
)


@pytest.mark.parametrize(
    ("changes", "lines"),
    [
        (
            {},
            [
                "The invoice for 2026-10 is final: $30,000.00",
                "nlp                                    $20,000.00",
                "Invoice total                          $30,000.00",
            ],
        ),
        (
            {"final": False},
            ["PROVISIONAL: the invoice for 2026-10 is not final yet: $30,000.00"],
        ),
        (
            {"teams": ADJUSTED, "adjustment_total": Decimal("-150.00")},
            [
                "Team                                      2026-10       Amount due",
                "nlp                                    $20,000.00       $19,850.00",
                "Adjustments to closed months, included in the amounts due: -$150.00",
            ],
        ),
    ],
    ids=["final", "provisional-preview", "with-adjustments"],
)
def test_chargeback_notice_text(changes: dict[str, object], lines: list[str]) -> None:
    text = chargeback_content(finance_digest(**changes)).text
    for line in lines:
        assert line in text.splitlines()
