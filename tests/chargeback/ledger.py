"""Build a small ledger by hand: cost rows and the allocation that spreads them, per month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl

from gpuledger.period import Period
from gpuledger.schema import ALLOCATION_SCHEMA, Alloc, Cost
from gpuledger.store.delta import Store
from tests.factories import cost_rows


def alloc_rows(period: str, *rows: dict[str, Any]) -> pl.DataFrame:
    """Allocation rows: one GPU-hour of usage by nlp/llama on an H100 on the 1st, unless told."""
    start = Period.parse(period).start
    defaults: dict[str, Any] = {
        Alloc.x_BillingPeriod: period,
        Alloc.BillingPeriodStart: start,
        Alloc.day: start.date(),
        Alloc.ProviderName: "AWS",
        Alloc.BillingAccountId: "111",
        Alloc.SubAccountId: "111",
        Alloc.ResourceId: "i-1",
        Alloc.x_GpuModel: "H100",
        Alloc.ServiceName: "Amazon Elastic Compute Cloud",
        Alloc.ChargeCategory: "Usage",
        Alloc.PricingCategory: "Standard",
        Alloc.team: "nlp",
        Alloc.model: "llama",
        Alloc.workload: None,
        Alloc.cost_type: "usage",
        Alloc.gpu_hours: 1.0,
        Alloc.cost: Decimal("1.00"),
        Alloc.currency: "USD",
        Alloc.rule: "tag:team",
    }
    records = [{**defaults, **row} for row in rows]
    for record in records:
        record[Alloc.cost] = Decimal(str(record[Alloc.cost]))
    return pl.DataFrame(records, schema=ALLOCATION_SCHEMA)


def cost_for(allocation: pl.DataFrame, source: str = "aws") -> pl.DataFrame:
    """One cost row per allocation row, with the allocation's amount and its cost line's keys."""
    rows = []
    for record in allocation.to_dicts():
        start, end = Period.parse(record[Alloc.x_BillingPeriod]).bounds()
        day = record[Alloc.day] or start.date()
        charge = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows.append(
            {
                Cost.BillingAccountId: record[Alloc.BillingAccountId],
                Cost.SubAccountId: record[Alloc.SubAccountId],
                Cost.BillingPeriodStart: start,
                Cost.BillingPeriodEnd: end,
                Cost.ChargePeriodStart: charge,
                Cost.ChargePeriodEnd: charge + timedelta(days=1),
                Cost.ChargeCategory: record[Alloc.ChargeCategory],
                Cost.PricingCategory: record[Alloc.PricingCategory],
                Cost.ProviderName: record[Alloc.ProviderName],
                Cost.ServiceName: record[Alloc.ServiceName],
                Cost.ResourceId: record[Alloc.ResourceId],
                Cost.BilledCost: record[Alloc.cost],
                Cost.EffectiveCost: record[Alloc.cost],
                Cost.BillingCurrency: record[Alloc.currency],
                Cost.x_BillingPeriod: record[Alloc.x_BillingPeriod],
                Cost.x_Source: source,
            }
        )
    return cost_rows(*rows)


def write_month(
    store: Store,
    period: str,
    *rows: dict[str, Any],
    invoiced: bool = True,
    cost: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Write a month: its allocation, cost rows that match it, and its invoice state."""
    allocation = alloc_rows(period, *rows)
    store.replace_partitions("allocation", allocation, [Alloc.x_BillingPeriod])
    costs = cost_for(allocation) if cost is None else cost
    store.replace_partitions(
        "cost", costs, [Cost.x_Source, Cost.BillingAccountId, Cost.x_BillingPeriod]
    )
    for account in sorted(set(costs[Cost.BillingAccountId].to_list())):
        store.state.record_billing_period("aws", account, period, invoiced=invoiced, delivery="d1")
    return allocation


def write_two_team_october(store: Store, *, invoiced: bool = True) -> pl.DataFrame:
    """October 2026: nlp 1,500.00 on the 5th, vision 700.00 on the 6th (instance i-2)."""
    return write_month(
        store,
        "2026-10",
        {Alloc.team: "nlp", Alloc.day: day("2026-10", 5), Alloc.cost: "1500.00"},
        {
            Alloc.team: "vision",
            Alloc.day: day("2026-10", 6),
            Alloc.cost: "700.00",
            Alloc.ResourceId: "i-2",
        },
        invoiced=invoiced,
    )


def day(period: str, number: int) -> date:
    return Period.parse(period).start.date().replace(day=number)
