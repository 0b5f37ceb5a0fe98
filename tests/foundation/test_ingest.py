"""The shared ingest path: lineage stamped, quarantine replaced with its partition, failures
recorded, and nothing written when a batch is refused."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest

from gpuledger.collect.ingest import CostBatch, Delivery, ingest_cost
from gpuledger.errors import InputError, SchemaError
from gpuledger.schema import QUARANTINE_SCHEMA, Cost, Quarantine
from gpuledger.store.delta import Store
from tests.factories import cost_rows


def _batch(amount: str = "2.50", quarantined: int = 0, currency: str = "USD") -> CostBatch:
    rows = cost_rows({Cost.EffectiveCost: Decimal(amount), Cost.BillingCurrency: currency})
    refused = pl.DataFrame(
        {
            Quarantine.BillingAccountId: ["111"] * quarantined,
            Quarantine.x_BillingPeriod: ["2026-10"] * quarantined,
            Quarantine.file: ["export.csv"] * quarantined,
            Quarantine.row: list(range(quarantined)),
            Quarantine.reason: ["cost is not a number"] * quarantined,
            Quarantine.cost: [Decimal("0.10")] * quarantined,
        },
        schema={
            k: QUARANTINE_SCHEMA[k]
            for k in (
                Quarantine.BillingAccountId,
                Quarantine.x_BillingPeriod,
                Quarantine.file,
                Quarantine.row,
                Quarantine.reason,
                Quarantine.cost,
            )
        },
    )
    quarantine = pl.DataFrame(schema=QUARANTINE_SCHEMA).vstack(
        refused.with_columns(
            [
                pl.lit(None, dtype).alias(name)
                for name, dtype in QUARANTINE_SCHEMA.items()
                if name not in refused.columns
            ]
        ).select(list(QUARANTINE_SCHEMA))
    )
    return CostBatch(
        rows=rows.drop(Cost.x_Source, Cost.x_BillingPeriod),
        quarantine=quarantine,
        deliveries=[Delivery("111", "2026-10", delivery_id="d1", invoiced=True)],
    )


def test_rows_are_stamped_with_lineage(store: Store) -> None:
    result = ingest_cost(store, "aws", "export.csv", lambda run_id: _batch())
    stored = store.read("cost")
    assert stored[Cost.x_Source].to_list() == ["aws"]
    assert stored[Cost.x_IngestId].to_list() == [result.run_id]
    assert stored[Cost.x_BillingPeriod].to_list() == ["2026-10"]
    assert result.partitions == [("111", "2026-10")]
    assert store.state.billing_periods()[0]["invoiced"] == 1


def test_quarantine_follows_its_partition(store: Store) -> None:
    ingest_cost(store, "aws", "export.csv", lambda run_id: _batch(quarantined=3))
    assert store.read("quarantine").height == 3
    ingest_cost(store, "aws", "export.csv", lambda run_id: _batch(quarantined=1))
    refused = store.read("quarantine")
    assert refused.height == 1
    assert refused[Quarantine.x_Source].to_list() == ["aws"]


def test_a_refused_batch_changes_nothing_and_is_recorded(store: Store) -> None:
    ingest_cost(store, "aws", "export.csv", lambda run_id: _batch("2.50"))
    version = store.version("cost")

    def broken(run_id: str) -> CostBatch:
        batch = _batch("9.99")
        batch.rows = batch.rows.with_columns(pl.lit("Fee").alias(Cost.ChargeCategory))
        return batch

    with pytest.raises(SchemaError):
        ingest_cost(store, "aws", "restated.csv", broken)
    assert store.version("cost") == version
    assert store.read("cost")[Cost.EffectiveCost].to_list() == [Decimal("2.50")]
    runs = store.state.ingest_runs()
    assert runs[0].status == "failed"
    assert "ChargeCategory" in (runs[0].message or "")


def test_two_currencies_in_one_period_are_refused(store: Store) -> None:
    def mixed(run_id: str) -> CostBatch:
        batch = _batch()
        batch.rows = pl.concat(
            [batch.rows, batch.rows.with_columns(pl.lit("EUR").alias(Cost.BillingCurrency))]
        )
        return batch

    with pytest.raises(InputError, match="mixes currencies EUR, USD"):
        ingest_cost(store, "aws", "export.csv", mixed)
    assert store.version("cost") is None
