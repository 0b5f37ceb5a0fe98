"""Line explanations as text, JSON or CSV: what ``gpuledger explain`` prints.

Amounts follow :mod:`~gpuledger.report.export.json_rule`: each source's original and allocated
amounts in its billing currency's minor unit, its cost in the statement currency, fitted so that
the sources add up to the line. The text form shows the same numbers; all three show the rules
and the sources adding up to the line.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpuledger.engine.chargeback.explain import Explanation, RulePart, SourcePart
from gpuledger.errors import UsageError
from gpuledger.report.export.json_rule import json_bytes, money
from gpuledger.report.export.printable import printable
from gpuledger.report.export.tabular import Column, Tabular, tabular_csv
from gpuledger.report.export.terminal import terminal_table

WIDTH: Final = 180

SOURCE_COLUMNS: Final = (
    Column("day", "day", drop=2),
    Column("provider", "provider", drop=4),
    Column("billing_account", "account", drop=5),
    Column("resource_id", "resource", drop=3, wrap=True),
    Column("service", "service", drop=6),
    Column("charge_category", "charge", drop=7),
    Column("rule", "rule"),
    Column("original", "original", drop=8),
    Column("share", "share", "fraction", drop=1),
    Column("cost", "cost", "money"),
)
CSV_COLUMNS: Final = (
    Column("period", "period"),
    Column("team", "team"),
    Column("number", "line", "count"),
    Column("line_id", "line id"),
    Column("day", "day"),
    Column("provider", "provider"),
    Column("billing_account", "account"),
    Column("sub_account", "sub-account"),
    Column("resource_id", "resource"),
    Column("gpu_model", "GPU model"),
    Column("service", "service"),
    Column("charge_category", "charge"),
    Column("pricing_category", "pricing"),
    Column("rule", "rule"),
    Column("billing_currency", "billing currency"),
    Column("original_amount", "original", "decimal"),
    Column("allocated", "allocated", "decimal"),
    Column("cost_rows", "cost rows", "count"),
    Column("share", "share", "fraction"),
    Column("gpu_hours", "GPU-hours", "quantity"),
    Column("cost", "cost", "money"),
    Column("currency", "currency"),
)


def render_explanations(explanations: list[Explanation], format: str, width: int = WIDTH) -> bytes:
    """The explanations in ``format`` (table, json or csv) as UTF-8 bytes; a table is ``width``
    characters wide."""
    writers: dict[str, Callable[[list[Explanation]], bytes]] = {
        **_WRITERS,
        "table": partial(render_table, width=width),
    }
    writer = writers.get(format)
    if writer is None:
        raise UsageError(f"unknown format {format!r} (expected one of {', '.join(writers)})")
    return writer(explanations)


def _rule_json(rule: RulePart, currency: str) -> dict[str, Any]:
    return {
        "rule": rule.rule,
        "cost": money(rule.cost, currency),
        "gpu_hours": rule.gpu_hours,
        "sources": rule.sources,
    }


def _source_json(source: SourcePart, currency: str) -> dict[str, Any]:
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
        "original_amount": money(source.original, source.currency),
        "cost_rows": source.cost_rows,
        "allocated": money(source.allocated, source.currency),
        "share": source.share,
        "gpu_hours": source.gpu_hours,
        "cost": money(source.cost, currency),
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
        "cost": money(line.cost, explanation.currency),
        "currency": explanation.currency,
        "cost_basis": explanation.cost_basis,
        "closed": explanation.closed,
        "closed_at": explanation.closed_at,
        "restated": explanation.restated,
        "current_cost": money(explanation.current_cost, explanation.currency),
        "rules": [_rule_json(rule, explanation.currency) for rule in explanation.rules],
        "sources": [_source_json(source, explanation.currency) for source in explanation.sources],
        "other_sources": {
            "count": explanation.other_sources,
            "cost": money(explanation.other_cost, explanation.currency),
        },
    }


def render_json(explanations: list[Explanation]) -> bytes:
    return json_bytes({"lines": [explanation_json(e) for e in explanations]})


def render_csv(explanations: list[Explanation]) -> bytes:
    """One row per source of every explained line, with the line it belongs to; the sources
    beyond the top ones are one row whose rule is ``other N sources``."""
    rows: list[dict[str, Any]] = []
    currency = explanations[0].currency if explanations else "USD"
    for explanation in explanations:
        line = {
            "period": explanation.period,
            "team": explanation.team,
            "number": explanation.number,
            "line_id": explanation.line_id,
            "currency": explanation.currency,
        }
        for source in explanation.sources:
            rows.append({**line, **_source_json(source, explanation.currency)})
        if explanation.other_sources:
            other = f"other {explanation.other_sources} sources"
            rows.append({**line, "rule": other, "cost": explanation.other_cost})
    return tabular_csv(Tabular("Sources", CSV_COLUMNS, rows, currency))


def render_table(explanations: list[Explanation], width: int = WIDTH) -> bytes:
    """Plain text (no colour codes): per line a heading, its rules and its sources."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    for explanation in explanations:
        console.print(Text(printable(heading(explanation))))
        state = closed_note(explanation)
        if state:
            console.print(Text(state))
        console.print(_rules_table(explanation))
        console.print(terminal_table(_sources(explanation), width))
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
            Text(printable(rule.rule)),
            f"{rule.cost:,}",
            f"{rule.gpu_hours:,.1f}",
            str(rule.sources),
        )
    table.add_section()
    table.add_row(Text("line"), f"{explanation.line.cost:,}", "", "")
    return table


def _sources(explanation: Explanation) -> Tabular:
    """The top sources, the rest in one row, and the line they add up to."""
    shown = len(explanation.sources)
    total = shown + explanation.other_sources
    rows: list[dict[str, object]] = [_source_cells(source) for source in explanation.sources]
    if explanation.other_sources:
        rows.append(
            {"rule": f"other {explanation.other_sources} sources", "cost": explanation.other_cost}
        )
    rows.append({"rule": "line", "cost": explanation.line.cost})
    title = f"Sources (top {shown} of {total})"
    return Tabular(title, SOURCE_COLUMNS, rows, explanation.currency)


def _source_cells(source: SourcePart) -> dict[str, object]:
    original = None if source.original is None else f"{source.original:,.2f} {source.currency}"
    return {
        "day": source.day,
        "provider": source.provider,
        "billing_account": source.sub_account or source.account,
        "resource_id": source.resource_id,
        "service": source.service,
        "charge_category": source.charge_category,
        "rule": source.rule,
        "original": original,
        "share": source.share,
        "cost": source.cost,
    }


_WRITERS: Final[dict[str, Callable[[list[Explanation]], bytes]]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
}
