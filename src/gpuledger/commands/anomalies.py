"""`gpuledger anomalies`: the month's spend anomalies by team, model, GPU model and instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console

from gpuledger.commands.context import Context
from gpuledger.commands.output import emit, require_out, terminal
from gpuledger.commands.period_choice import chosen_period, require_billing_data
from gpuledger.engine.alerts.detect import find_anomalies
from gpuledger.engine.alerts.model import Alert
from gpuledger.engine.chargeback.freshness import allocation_staleness
from gpuledger.errors import UsageError
from gpuledger.report.export.json_rule import json_bytes, money
from gpuledger.report.export.tabular import Column, Tabular, tabular_csv
from gpuledger.report.export.terminal import terminal_table
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store

FORMATS = ("table", "json", "csv")
COLUMNS = (
    Column("id", "id", drop=5),
    Column("day", "day"),
    Column("last_day", "until", drop=4),
    Column("team", "team"),
    Column("dimension", "series", drop=3),
    Column("key", "key", drop=2),
    Column("actual", "actual", "money"),
    Column("expected", "expected", "money", drop=1),
    Column("impact", "impact", "money"),
    Column("explanation", "why", wrap=True, drop=6),
    Column("drivers", "drivers", drop=9),
)
TERMINAL_KEYS = frozenset(c.key for c in COLUMNS) - {"id", "drivers"}


def run(
    ctx: Context, *, period: str | None, team: str | None, format: str, out: Path | None = None
) -> None:
    store, period = attributed_month(ctx, period, format, out)
    currency = ctx.settings.reporting.currency
    alerts = find_anomalies(store, ctx.settings, period, team)
    document = as_json(alerts, period, currency, team)
    if format == "table":
        print_table(terminal(), document)
    elif format == "json":
        emit(json_bytes(document), out)
    else:
        emit(tabular_csv(anomaly_tabular(document)), out)


def attributed_month(
    ctx: Context, period: str | None, format: str, out: Path | None
) -> tuple[Store, str]:
    """The ledger and the month a report of daily spend reads, once the format, the output and
    the month's allocation are checked (:func:`require_current_allocation`)."""
    if format not in FORMATS:
        raise UsageError(f"--format {format} is not one of {', '.join(FORMATS)}")
    require_out(format, out)
    store = ctx.read_store
    chosen = chosen_period(store, period)
    require_current_allocation(store, chosen)
    return store, chosen


def require_current_allocation(store: Store, period: str) -> None:
    """UsageError (exit 2) for a month without billing data, not attributed yet, or whose
    allocation is stale (its inputs changed since attribution): its daily spend would not be the
    bill's. The same refusals as `chargeback`."""
    require_billing_data(store, period)
    allocated = (
        store.scan("allocation").filter(pl.col(Alloc.x_BillingPeriod) == period).head(1).collect()
    )
    if allocated.is_empty():
        raise UsageError(
            f"{period} has billing data but no allocation: run `gpuledger attribute"
            f" --period {period}` first"
        )
    stale = allocation_staleness(store, period)
    if stale is not None:
        raise UsageError(stale.message())


def alert_json(alert: Alert, currency: str) -> dict[str, Any]:
    """One alert as plain data: money as decimal text, days as ISO dates."""
    return {
        "id": alert.id,
        "kind": alert.kind,
        "period": alert.period,
        "team": alert.team,
        "dimension": alert.dimension,
        "key": alert.key,
        "day": None if alert.day is None else alert.day.isoformat(),
        "last_day": None if alert.last_day is None else alert.last_day.isoformat(),
        "expected": money(alert.expected, currency),
        "actual": money(alert.actual, currency),
        "impact": money(alert.impact, currency),
        "title": alert.title,
        "explanation": alert.explanation,
        "drivers": [
            {"label": d.label, "detail": d.detail, "cost": money(d.cost, currency)}
            for d in alert.drivers
        ],
    }


def as_json(alerts: list[Alert], period: str, currency: str, team: str | None) -> dict[str, Any]:
    """The JSON document: the month, the team asked for, and each anomaly, largest impact first."""
    return {
        "period": period,
        "currency": currency,
        "team": team,
        "anomalies": [alert_json(alert, currency) for alert in alerts],
    }


def anomaly_tabular(document: dict[str, Any], keys: frozenset[str] | None = None) -> Tabular:
    """The anomalies as a table: every column (files), or the columns ``keys`` (terminal)."""
    rows = [
        {
            **anomaly,
            "drivers": "; ".join(
                f"{d['label']} {d['detail']} ({d['cost']})" for d in anomaly["drivers"]
            ),
        }
        for anomaly in document["anomalies"]
    ]
    columns = tuple(c for c in COLUMNS if keys is None or c.key in keys)
    return Tabular("Spend anomalies", columns, rows, document["currency"])


def print_table(console: Console, document: dict[str, Any]) -> None:
    """A headline (how many, their impact), then the table."""
    anomalies = document["anomalies"]
    whose = f" of team {document['team']}" if document["team"] else ""
    if not anomalies:
        console.print(f"No spend anomalies{whose} in {document['period']}.", highlight=False)
        return
    total = sum(float(a["impact"]) for a in anomalies)
    console.print(
        f"{len(anomalies)} spend anomal{'y' if len(anomalies) == 1 else 'ies'}{whose} in"
        f" {document['period']}, {total:,.2f} {document['currency']} above expected",
        highlight=False,
    )
    console.print(terminal_table(anomaly_tabular(document, TERMINAL_KEYS), console.width))
