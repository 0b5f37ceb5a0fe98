"""`gpuledger attribute --period YYYY-MM [--engine local|spark]`: split the period's spend, then
say where it went."""

from __future__ import annotations

from typing import Literal

from rich.console import Console
from rich.table import Table

from gpuledger.commands.context import Context
from gpuledger.commands.period_choice import chosen_period, require_billing_data
from gpuledger.engine.attribution.attribute import AttributionResult, run_attribution
from gpuledger.engine.chargeback.freshness import input_versions, record_attribution
from gpuledger.engine.spark import allocator
from gpuledger.engine.waste.compute import store_waste
from gpuledger.errors import GpuledgerError


def run(
    ctx: Context, *, period: str | None, engine: Literal["local", "spark"] | None = None
) -> None:
    """Attribute ``period`` on ``engine`` (default ``[engine] kind``), record its inputs, check it."""
    store = ctx.read_store
    period = chosen_period(store, period)
    require_billing_data(store, period)
    versions = input_versions(store)  # before the inputs are read: see engine.chargeback.freshness
    kind = engine or ctx.settings.engine.kind
    result = run_attribution(store, ctx.settings, period, allocator(kind))
    record_attribution(store, period, versions, result.version)
    # The app's waste page reads this precompute; storing it here, not inside attribution, keeps
    # the attribution step itself as fast as it is for the scheduler and the benchmarks.
    store_waste(store, ctx.settings, period)
    console = Console()
    console.print(summary_table(result))
    if not result.conserved:
        raise GpuledgerError(
            f"{period}: allocation {result.allocated} does not equal the cost basis "
            f"{result.invoice}; the allocation was written, please report this"
        )
    console.print(
        f"conservation: allocation == cost basis in every currency "
        f"({result.rows:,} rows, allocation version {result.version}, {kind} engine)",
        highlight=False,
    )


def summary_table(result: AttributionResult) -> Table:
    """Total, allocated by rule kind and unallocated, per currency, with the check per line."""
    table = Table(title=f"Attribution {result.period}", title_justify="left")
    for name in ("currency", "line", "amount"):
        table.add_column(name, justify="right" if name == "amount" else "left")
    for currency, invoice in sorted(result.invoice.items()):
        table.add_row(currency, "cost basis (invoice)", f"{invoice:,.2f}")
        for (kind_currency, kind), amount in sorted(result.by_rule.items()):
            if kind_currency == currency:
                table.add_row("", f"by rule: {kind}", f"{amount:,.2f}")
        allocated = result.allocated.get(currency, 0)
        table.add_row("", "allocated in total", f"{allocated:,.2f}")
        table.add_row("", "of which (unallocated)", f"{result.unallocated.get(currency, 0):,.2f}")
        check = "ok" if allocated == invoice else f"MISMATCH {allocated - invoice:,.18f}"
        table.add_row("", "conservation", check)
    return table
