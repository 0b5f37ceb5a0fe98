"""One alert as the JSON body of a Slack- or Teams-compatible incoming webhook.

``text`` alone is a complete message (Teams' incoming webhooks and any chat that reads only
``text`` show it); ``blocks`` lays the same facts out for Slack. Values from the data are escaped
the way Slack asks (``&``, ``<``, ``>``), so a model named ``<!channel>`` cannot ping anyone.
The body is serialized once, with sorted keys, and its hash is what the send log records.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gpuledger.report.email.message import money, signed_money
from gpuledger.report.notify.message import AlertFacts

HEADER_LIMIT = 150  # Slack's limit for a header block's text


def escape(text: str) -> str:
    """Slack's control characters as entities; everything else unchanged."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _figures(facts: AlertFacts) -> list[tuple[str, str]]:
    c = facts.currency
    return [
        (facts.expected_label, money(facts.expected, c)),
        (facts.actual_label, money(facts.actual, c)),
        (facts.impact_label, signed_money(facts.impact, c)),
    ]


def _text(facts: AlertFacts) -> str:
    lines = [
        f"{facts.heading}: {escape(facts.title)}",
        f"{escape(facts.scope)}, {facts.when}",
    ]
    if facts.explanation:
        lines.append(escape(facts.explanation))
    lines.append(" · ".join(f"{label} {value}" for label, value in _figures(facts)))
    lines.append(f"Open in gpuledger: {facts.app_url}")
    return "\n".join(lines)


def _blocks(facts: AlertFacts) -> list[dict[str, Any]]:
    header = f"{facts.heading}: {facts.title}"
    summary = f"*{escape(facts.scope)}*, {facts.when}"
    if facts.explanation:
        summary += "\n" + escape(facts.explanation)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header[:HEADER_LIMIT]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
                for label, value in _figures(facts)
            ],
        },
    ]
    if facts.drivers:
        lines = [
            f"• {escape(d.label)}: {escape(d.detail)} ({money(d.cost, facts.currency)})"
            for d in facts.drivers
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open in gpuledger"},
                    "url": facts.app_url,
                }
            ],
        }
    )
    blocks.append({"type": "context", "elements": [{"type": "plain_text", "text": facts.id}]})
    return blocks


def webhook_body(facts: AlertFacts) -> bytes:
    """The POST body: ``{"text": …, "blocks": […]}`` as UTF-8 JSON with sorted keys."""
    document = {"text": _text(facts), "blocks": _blocks(facts)}
    return json.dumps(document, sort_keys=True, ensure_ascii=False).encode()


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
