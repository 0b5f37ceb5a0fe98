"""`gpuledger close`: freeze a month's statements, or re-open a closed month with a reason."""

from __future__ import annotations

from gpuledger.commands.context import Context
from gpuledger.commands.period_choice import chosen_period
from gpuledger.engine.chargeback.close import close_period, provisional_accounts, reopen_period
from gpuledger.progress import stderr_console
from gpuledger.report.export.printable import markup_text


def run(ctx: Context, *, period: str | None, force: bool, reopen: bool, reason: str | None) -> None:
    period = chosen_period(ctx.read_store, period)
    if reopen:
        reopen_period(ctx.store, period, reason)
        stderr_console.print(f"re-opened {period}: {markup_text(reason or '')}", highlight=False)
        return
    provisional = provisional_accounts(ctx.store, period)
    if provisional and force:
        stderr_console.print(
            f"[yellow]warning:[/] {period} is not invoiced yet for"
            f" {markup_text(', '.join(provisional))};"
            " closing anyway (--force). Later changes become adjustments of the next month.",
            highlight=False,
        )
    result = close_period(ctx.store, ctx.settings, period, force=force)
    statements = result.statements
    stderr_console.print(
        f"closed {period}: {len(statements.teams)} teams, invoice"
        f" {statements.invoice_total:,} {statements.currency}, content hash"
        f" {result.content_hash[:16]}, table versions {result.table_versions}",
        highlight=False,
    )
