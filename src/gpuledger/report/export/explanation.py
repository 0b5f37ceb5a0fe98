"""Line explanations as text or JSON: what ``gpuledger explain`` prints.

JSON amounts are exact decimal strings (an allocated part carries up to 18 decimals); the text
form shows the same numbers, and both show the rules and the sources adding up to the line.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpuledger.engine.chargeback.explain import Explanation, RulePart, SourcePart
from gpuledger.errors import UsageError

WIDTH: Final = 180


def render_explanations(explanations: list[Explanation], format: str) -> bytes:
    """The explanations in ``format`` (table or json) as UTF-8 bytes."""
    writer = _WRITERS.get(format)
    if writer is None:
        raise UsageError(f"unknown format {format!r} (expected one of {', '.join(_WRITERS)})")
    return writer(explanations)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _rule_json(rule: RulePart) -> dict[str, Any]:
    return {
        "rule": rule.rule,
        "cost": str(rule.cost),
        "gpu_hours": rule.gpu_hours,
        "sources": rule.sources,
    }


def _source_json(source: SourcePart) -> dict[str, Any]:
    return {
        "day": None if source.day is None else source.day.isoformat(),
        "provider": source.provider,
        "billing_account": source.account,
        "sub_account": source.sub_account,
        "resource_id": source.resource_id,
        "gpu_model": source.gpu_model,
        "service": source.service,
        "charge_category": source.charge_category,
        "pricing_category": source.pricing_category,
        "rule": source.rule,
        "billing_currency": source.currency,
        "original_amount": _text(source.original),
        "cost_rows": source.cost_rows,
        "allocated": str(source.allocated),
        "share": source.share,
        "gpu_hours": source.gpu_hours,
        "cost": str(source.cost),
    }


def explanation_json(explanation: Explanation) -> dict[str, Any]:
    """One line's explanation as plain data: the line, its rules, its top sources, the rest."""
    line = explanation.line
    return {
        "period": explanation.period,
        "team": explanation.team,
        "number": explanation.number,
        "line_id": explanation.line_id,
        "model": line.model,
        "gpu_model": line.gpu_model,
        "cost_type": line.cost_type,
        "gpu_hours": line.gpu_hours,
        "cost": str(line.cost),
        "currency": explanation.currency,
        "cost_basis": explanation.cost_basis,
        "closed": explanation.closed,
        "closed_at": explanation.closed_at,
        "restated": explanation.restated,
        "current_cost": _text(explanation.current_cost),
        "rules": [_rule_json(rule) for rule in explanation.rules],
        "sources": [_source_json(source) for source in explanation.sources],
        "other_sources": {
            "count": explanation.other_sources,
            "cost": str(explanation.other_cost),
        },
    }


def render_json(explanations: list[Explanation]) -> bytes:
    document = {"lines": [explanation_json(e) for e in explanations]}
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def render_table(explanations: list[Explanation]) -> bytes:
    """Plain text (no colour codes): per line a heading, its rules and its sources."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, color_system=None, force_terminal=False)
    for explanation in explanations:
        console.print(Text(heading(explanation)))
        state = closed_note(explanation)
        if state:
            console.print(Text(state))
        console.print(_rules_table(explanation))
        console.print(_sources_table(explanation))
    return buffer.getvalue().encode("utf-8")


def heading(explanation: Explanation) -> str:
    """``team · line N (id) — model / GPU model / cost type: amount currency``."""
    line = explanation.line
    return (
        f"{explanation.period} {explanation.team} · line {explanation.number}"
        f" ({explanation.line_id}) — {line.model} / {line.gpu_model or '-'} / {line.cost_type}:"
        f" {line.cost:,} {explanation.currency}, {line.gpu_hours:,.1f} GPU-hours"
    )


def closed_note(explanation: Explanation) -> str | None:
    """For a closed month: what is explained, and whether the allocation has moved since."""
    if not explanation.closed:
        return None
    closed = f"Closed {explanation.closed_at}: explained from the allocation it was closed from"
    if explanation.restated:
        return (
            f"{closed}; restated since — the allocation now gives this line"
            f" {explanation.current_cost:,} {explanation.currency}"
            " (the difference lands as an adjustment on the next open month)."
        )
    return f"{closed}; not restated since."


def _rules_table(explanation: Explanation) -> Table:
    table = Table(title="Rules", title_justify="left")
    table.add_column("rule", no_wrap=True)
    for name in ("cost", "GPU-hours", "sources"):
        table.add_column(name, justify="right", no_wrap=True)
    for rule in explanation.rules:
        table.add_row(
            Text(rule.rule), f"{rule.cost:,}", f"{rule.gpu_hours:,.1f}", str(rule.sources)
        )
    table.add_section()
    table.add_row(Text("line"), f"{explanation.line.cost:,}", "", "")
    return table


def _sources_table(explanation: Explanation) -> Table:
    shown = len(explanation.sources)
    total = shown + explanation.other_sources
    table = Table(title=f"Sources (top {shown} of {total})", title_justify="left")
    for name in ("day", "provider", "account", "resource", "service", "charge", "rule"):
        table.add_column(name, overflow="fold")
    for name in ("original", "share", "cost"):
        table.add_column(name, justify="right", no_wrap=True)
    for source in explanation.sources:
        table.add_row(*_source_cells(source))
    if explanation.other_sources:
        other = f"other {explanation.other_sources} sources"
        table.add_row(Text(other), *[""] * 8, f"{explanation.other_cost:,}")
    table.add_section()
    table.add_row(Text("line"), *[""] * 8, f"{explanation.line.cost:,}")
    return table


def _source_cells(source: SourcePart) -> list[str | Text]:
    original = "" if source.original is None else f"{source.original:,.2f} {source.currency}"
    share = "" if source.share is None else f"{source.share:.1%}"
    return [
        str(source.day or ""),
        Text(source.provider or ""),
        Text(source.sub_account or source.account or ""),
        Text(source.resource_id or ""),
        Text(source.service or ""),
        Text(source.charge_category or ""),
        Text(source.rule),
        original,
        share,
        f"{source.cost:,}",
    ]


_WRITERS: Final[dict[str, Callable[[list[Explanation]], bytes]]] = {
    "table": render_table,
    "json": render_json,
}
