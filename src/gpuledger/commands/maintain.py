"""`gpuledger maintain`: compact and vacuum the Delta tables, then say what changed per table."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.progress import progress_bar
from gpuledger.schema import TABLES
from gpuledger.store.maintain import TableMaintenance, maintain


def run(
    ctx: Context, *, tables: list[str], retention_hours: int, dry_run: bool, format: str
) -> None:
    store = ctx.store
    with progress_bar(transient=True) as progress:
        task = progress.add_task("maintaining tables", total=len(tables or TABLES))
        results = maintain(
            store,
            tables,
            retention_hours=retention_hours,
            dry_run=dry_run,
            on_table=lambda _table: progress.advance(task),
        )
    if format == "json":
        report = {
            "home": store.home,
            "retention_hours": retention_hours,
            "dry_run": dry_run,
            "tables": [result.as_dict() for result in results],
        }
        print(json.dumps(report, indent=2))
        return
    console = Console()
    if not results:
        console.print("no tables to maintain: nothing has been written yet")
        return
    console.print(results_table(results, retention_hours, dry_run=dry_run))


def results_table(results: list[TableMaintenance], retention_hours: int, *, dry_run: bool) -> Table:
    """Per table: files and MiB before → after, files compacted and vacuumed, pinned versions."""
    verb = "would be " if dry_run else ""
    table = Table(
        title=f"Maintenance{' (dry run)' if dry_run else ''}, retention {retention_hours} h",
        title_justify="left",
    )
    for name in (
        "table",
        "files",
        "MiB",
        f"{verb}compacted",
        f"{verb}vacuumed",
        "kept for closed months",
        "seconds",
    ):
        table.add_column(name, justify="left" if name.startswith(("table", "kept")) else "right")
    for result in results:
        table.add_row(
            result.table,
            f"{result.before.files:,} → {result.after.files:,}",
            f"{result.before.bytes / 2**20:,.1f} → {result.after.bytes / 2**20:,.1f}",
            f"{result.files_compacted:,}",
            f"{result.files_vacuumed:,}",
            ", ".join(f"v{v}" for v in result.protected_versions) or "-",
            f"{result.seconds:.2f}",
        )
    return table
