"""`gpuledger email --period YYYY-MM`: savings mails to team leads, the chargeback notice to finance."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.errors import DeliveryError, UsageError
from gpuledger.period import Period
from gpuledger.report.email.delivery import SmtpTransport
from gpuledger.report.email.dispatch import (
    Outcome,
    Outgoing,
    chargeback_mail,
    deliver,
    invoice_final,
    leads,
    savings_mail,
    write_outbox,
)

DEFAULT_OUTBOX = Path("outbox")


def run(ctx: Context, *, period: str, dry_run: bool, outbox: Path | None, team: str | None) -> None:
    Period.parse(period)
    if outbox is not None and not dry_run:
        raise UsageError("--outbox only goes with --dry-run")
    settings, store = ctx.settings, ctx.store
    if team is not None and not leads(settings, team):
        raise UsageError(f"--team {team!r}: no such team with a lead in the config")
    console = Console()
    items: list[Outgoing] = savings_mail(store, settings, period, period, team)
    if team is None and (dry_run or invoice_final(store, period)):
        items += chargeback_mail(store, settings, period)
    elif team is None and settings.email.finance:
        console.print(f"finance notice: waiting for the final invoice of {period}")
    if dry_run:
        outcomes = write_outbox(items, outbox or DEFAULT_OUTBOX, settings.smtp.sender)
    else:
        transport = SmtpTransport(settings.smtp)
        outcomes = deliver(store.state, items, transport, settings.smtp.sender)
    _print(console, outcomes)
    failed = [o for o in outcomes if o.result in ("failed", "retry-later")]
    if failed:
        raise DeliveryError(f"{len(failed)} of {len(outcomes)} message(s) not delivered")


def _print(console: Console, outcomes: list[Outcome]) -> None:
    if not outcomes:
        console.print("no messages: no team in the config has a lead, and no finance address")
        return
    table = Table(title="E-mail", title_justify="left")
    for name in ("kind", "period", "team", "to", "result", "detail"):
        table.add_column(name)
    for o in outcomes:
        table.add_row(
            o.key.kind, o.key.period, o.key.team, ", ".join(o.recipients), o.result, o.detail
        )
    console.print(table)
