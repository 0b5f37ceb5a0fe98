"""The webhook body: complete as plain text, laid out for Slack, data escaped, stable bytes."""

from __future__ import annotations

import json

from gpuledger.report.notify.message import alert_facts
from gpuledger.report.notify.payload import HEADER_LIMIT, webhook_body
from tests.notify.alert_factories import APP_URL, anomaly, budget, settings


def test_text_alone_tells_the_alert_and_links_to_it() -> None:
    alert = budget()
    body = json.loads(webhook_body(alert_facts(alert, settings())))
    assert body["text"].splitlines() == [
        "GPU budget alert: team nlp passed 80% of its monthly budget",
        "team nlp, 2026-10, month to date",
        "Month to date $41,200.00 of $50,000.00.",
        "Budget $50,000.00 · To date $41,200.00 · Over +$1,200.00",
        f"Open in gpuledger: {APP_URL}/alerts?period=2026-10&id={alert.id}",
    ]
    assert (
        body["blocks"][-2]["elements"][0]["url"] == f"{APP_URL}/alerts?period=2026-10&id={alert.id}"
    )


def test_data_cannot_ping_or_format_in_slack() -> None:
    body = json.loads(webhook_body(alert_facts(anomaly(model="<!channel> & co"), settings())))
    assert "<!channel>" not in json.dumps(body["text"])
    assert "model &lt;!channel&gt; &amp; co (team nlp), 2026-10-14" in body["text"]
    section = body["blocks"][1]["text"]["text"]
    assert section.startswith("*model &lt;!channel&gt; &amp; co (team nlp)*")


def test_the_header_fits_slack_and_the_bytes_are_stable() -> None:
    facts = alert_facts(anomaly(model="m" * 300), settings())
    body = webhook_body(facts)
    assert len(json.loads(body)["blocks"][0]["text"]["text"]) == HEADER_LIMIT
    assert webhook_body(facts) == body
