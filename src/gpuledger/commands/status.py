"""`gpuledger status`: what is ingested, what was refused, what is unallocated."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, terminal
from gpuledger.engine.chargeback.freshness import Staleness, allocation_staleness
from gpuledger.report.export.printable import markup_text
from gpuledger.report.export.status_doc import billing_tabular, status_csv, status_json
from gpuledger.report.export.terminal import terminal_table
from gpuledger.report.health import Health, store_health
from gpuledger.store.delta import Store


def run(ctx: Context, *, format: str) -> None:
    store = ctx.read_store
    health = store_health(store, ctx.settings)
    stale = stale_allocations(store, health)
    currency = ctx.settings.reporting.currency
    if format == "json":
        sections = {**health.as_dict(), "stale_allocations": [asdict(s) for s in stale]}
        emit(status_json(store.home, sections, currency), None)
    elif format == "csv":
        emit(status_csv(health.cost_partitions, currency), None)
    else:
        _print_tables(terminal(), store.home, health, currency)
        for staleness in stale:
            terminal().print(f"[yellow]{markup_text(staleness.message())}[/]", highlight=False)


def stale_allocations(store: Store, health: Health) -> list[Staleness]:
    """Open months whose allocation was computed from inputs that have changed since."""
    periods = [row["x_BillingPeriod"] for row in health.allocation]
    found = [
        allocation_staleness(store, period)
        for period in periods
        if period not in health.closed_periods
    ]
    return [staleness for staleness in found if staleness is not None]


def _print_tables(console: Console, home: str, health: Health, currency: str) -> None:
    console.print(f"ledger home: {markup_text(home)}", highlight=False)
    if not health.cost_partitions:
        console.print("cost: nothing ingested yet (try `gpuledger ingest aws PATH`)")
    else:
        billing = billing_tabular(health.cost_partitions, currency)
        console.print(terminal_table(billing, console.width))
    if health.quarantine:
        table = Table(title="Quarantined rows (refused, kept for review)", title_justify="left")
        for name in ("source", "period", "reason", "rows", "cost"):
            table.add_column(name)
        for row in health.quarantine:
            table.add_row(
                markup_text(row["x_Source"]),
                markup_text(row["x_BillingPeriod"]),
                markup_text(row["reason"]),
                f"{row['rows']:,}",
                str(row["cost"]),
            )
        console.print(table)
    usage = health.gpu_usage
    if usage.get("rows") and usage["rows"] != "0":
        console.print(
            f"gpu_usage: {int(usage['rows']):,} rows, {usage['gpus']} GPUs on {usage['hosts']} hosts,"
            f" {usage['first_bucket']} → {usage['last_bucket']}",
            highlight=False,
        )
    else:
        console.print("gpu_usage: no telemetry yet")
    if health.unbilled_telemetry:
        console.print(_unbilled_table(health.unbilled_telemetry))
        console.print(
            "their GPU-hours split no bill: map each host to its ResourceId in"
            " [telemetry.hosts], or export kube-state-metrics' kube_node_info",
            markup=False,
            highlight=False,
        )
    if health.telemetry_gaps:
        console.print(_gaps_table(health.telemetry_gaps))
    for row in health.allocation:
        console.print(
            f"allocation {row['x_BillingPeriod']}: {_money(row['allocated'])} {row['currency']} allocated,"
            f" {_money(row['unallocated'])} {row['currency']} (unallocated)",
            highlight=False,
        )
    if health.unconfigured_teams:
        console.print(
            "teams not in config (from tags): "
            + ", ".join(markup_text(team) for team in health.unconfigured_teams),
            highlight=False,
        )
    if health.closed_periods:
        console.print("closed periods: " + ", ".join(health.closed_periods), highlight=False)
    for row in health.adjustments:
        what = markup_text(row.get("error") or f"{row['team']} {row['amount']} {row['currency']}")
        console.print(
            f"adjustment of closed {row['corrects_period']} → {row['lands_in']}: {what}",
            highlight=False,
        )
    if health.tables:
        console.print(_tables_table(health.tables))
    for row in health.tables:
        if row["needs_maintenance"]:
            console.print(
                f"[yellow]{row['table']}: {row['small_files']:,} small files[/], scans slow down:"
                f" run `gpuledger maintain --table {row['table']}`",
                highlight=False,
            )
    failed = [run for run in health.last_ingests if run["status"] == "failed"]
    for run in failed[:3]:
        console.print(
            f"[red]failed ingest[/] {run['started_at']} {run['source']}"
            f" {markup_text(run['src'])}: {markup_text(run['message'] or '')}",
            highlight=False,
        )
    interrupted = [run for run in health.last_ingests if run["status"] == "interrupted"]
    for run in interrupted[:3]:
        console.print(
            f"[yellow]interrupted ingest[/] {run['started_at']} {run['source']}"
            f" {markup_text(run['src'])}: its process ended before it finished; run it again"
            " (a rerun replaces whatever it wrote)",
            highlight=False,
        )
    for mail in health.undelivered_email:
        what = (
            "[red]e-mail failed[/]" if mail["status"] == "failed" else "[yellow]e-mail to retry[/]"
        )
        console.print(
            f"{what} {mail['kind']} {mail['period']} for {markup_text(mail['team'] or '')}"
            f" to {markup_text(', '.join(mail['recipients']))} after {mail['attempts']}"
            f" attempt(s): {markup_text(mail['error'] or '')}",
            highlight=False,
        )

    for post in health.undelivered_webhooks:
        console.print(
            f"{WEBHOOK_STATES[post['status']]} alert {post['alert_id']} after {post['attempts']}"
            f" attempt(s): {markup_text(post['error'] or '')}",
            highlight=False,
        )


WEBHOOK_STATES = {
    "failed": "[red]webhook failed[/]",
    "pending": "[yellow]webhook to retry[/]",
    "unconfirmed": "[yellow]webhook unconfirmed[/] (may have been posted; not sent again)",
}


def _tables_table(tables: list[dict[str, Any]]) -> Table:
    """Files and size of each Delta table, and when `gpuledger maintain` last ran on it."""
    table = Table(title="Tables", title_justify="left")
    for name in ("table", "files", "small files", "MiB", "last maintained"):
        table.add_column(
            name, justify="right" if name in ("files", "small files", "MiB") else "left"
        )
    for row in tables:
        table.add_row(
            row["table"],
            f"{row['files']:,}",
            f"{row['small_files']:,}",
            f"{row['bytes'] / 2**20:,.1f}",
            row["last_maintained"] or "never",
        )
    return table


def _gaps_table(rows: list[dict[str, Any]]) -> Table:
    """Billed hours of reporting instances without any telemetry: on `(no telemetry)` lines."""
    table = Table(
        title="Telemetry gaps (billed hours with no telemetry from a reporting instance)",
        title_justify="left",
    )
    for name in ("period", "instances", "instance-hours", "GPU-hours", "cost"):
        table.add_column(name, justify="left" if name == "period" else "right")
    for row in rows:
        table.add_row(
            row["x_BillingPeriod"],
            f"{row['instances']:,}",
            f"{row['instance_hours']:,.1f}",
            f"{row['gpu_hours']:,.1f}",
            f"{_money(row['cost'])} {row['currency']}",
        )
    return table


def _unbilled_table(rows: list[dict[str, Any]]) -> Table:
    """Telemetry whose host maps to no billed instance: its GPU-hours split no bill."""
    table = Table(title="Telemetry with no billed instance", title_justify="left")
    for name in ("source", "host", "periods", "GPU-hours"):
        table.add_column(name, justify="right" if name == "GPU-hours" else "left")
    for row in rows:
        table.add_row(
            markup_text(row["source"]),
            markup_text(row["host"] or "(none)"),
            row["periods"],
            f"{row['gpu_hours']:,.2f}",
        )
    return table


def _money(amount: str | None) -> str:
    """A stored amount (decimal text) with thousands separators; none is zero."""
    return f"{Decimal(amount or '0'):,.2f}"
