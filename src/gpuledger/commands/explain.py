"""`gpuledger explain`: why a statement line is what it is — its rules and its source cost rows."""

from __future__ import annotations

from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, terminal
from gpuledger.commands.period_choice import chosen_period
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.explain import explain
from gpuledger.errors import UsageError
from gpuledger.report.export.explanation import render_explanations


def run(
    ctx: Context,
    *,
    period: str | None,
    team: str,
    model: str | None,
    line: str | None,
    top: int,
    format: str,
) -> None:
    """Explain ``team``'s line ``line`` (number or id) of ``period``, else each of its lines."""
    if top < 1:
        raise UsageError(f"--top must be at least 1 (got {top})")
    store = ctx.read_store
    statements = build_statements(store, ctx.settings, chosen_period(store, period))
    explanations = explain(store, statements, team, line=line, model=model, top=top)
    emit(render_explanations(explanations, format, terminal().width), None)
