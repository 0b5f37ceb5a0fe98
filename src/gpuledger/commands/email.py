"""`gpuledger email --period YYYY-MM`: savings mails to team leads, the chargeback notice to finance."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.commands.period_choice import chosen_period
from gpuledger.errors import DeliveryError, UsageError
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
from gpuledger.report.export.printable import markup_text

OUTBOX = "outbox"  # under the ledger home, where `gpuledger demo` writes its dry run too


def run(
    ctx: Context, *, period: str | None, dry_run: bool, outbox: Path | None, team: str | None
) -> None:
    if outbox is not None and not dry_run:
        raise UsageError("--outbox only goes with --dry-run")
    settings, store = ctx.settings, ctx.read_store
    period = chosen_period(store, period)
    if team is not None and not leads(settings, team):
        raise UsageError(f"--team {team!r}: no such team with a lead in the config")
    console = Console()
    items: list[Outgoing] = savings_mail(store, settings, period, period, team)
    if team is None and (dry_run or invoice_final(store, period)):
        items += chargeback_mail(store, settings, period)
    elif team is None and settings.email.finance:
        console.print(f"finance notice: waiting for the final invoice of {period}")
    if dry_run:
        folder = outbox or default_outbox(store.home)
        outcomes = write_outbox(items, folder, settings.smtp.sender)
    else:
        transport = SmtpTransport(settings.smtp)
        outcomes = deliver(store.state, items, transport, settings.smtp.sender)
    _print(console, outcomes)
    failed = [o for o in outcomes if o.result in ("failed", "retry-later")]
    if failed:
        raise DeliveryError(f"{len(failed)} of {len(outcomes)} message(s) not delivered")


def default_outbox(home: str) -> Path:
    """``<home>/outbox`` for a local home; ``./outbox`` when the ledger lives in a bucket."""
    return Path(OUTBOX) if "://" in home else Path(home) / OUTBOX


def _print(console: Console, outcomes: list[Outcome]) -> None:
    if not outcomes:
        console.print("no messages: no team in the config has a lead, and no finance address")
        return
    table = Table(title="E-mail", title_justify="left")
    for name in ("kind", "period", "team", "to", "result", "detail"):
        table.add_column(name)
    for o in outcomes:
        table.add_row(
            o.key.kind,
            o.key.period,
            markup_text(o.key.team),
            markup_text(", ".join(o.recipients)),
            o.result,
            markup_text(o.detail),
        )
    console.print(table)
