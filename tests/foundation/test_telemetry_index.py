"""The telemetry index: kept by the GPU ingest, rebuilt when the table was written another way."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from polars.testing import assert_frame_equal

from gpuledger.collect.gpu.collector import store_usage
from gpuledger.schema import Usage, validate
from gpuledger.store import telemetry_index
from gpuledger.store.delta import Store
from tests.factories import usage_rows


def _usage(host: str, gpu: str, resource: str, day: int) -> pl.DataFrame:
    rows = usage_rows(
        {
            Usage.host: host,
            Usage.gpu_uuid: gpu,
            Usage.ResourceId: resource,
            Usage.bucket_start: datetime(2026, 10, day, tzinfo=UTC),
        }
    ).with_columns(
        pl.lit("agent").alias(Usage.source), pl.lit("2026-10").alias(Usage.x_BillingPeriod)
    )
    return validate(rows, "gpu_usage")


def _rebuilt(store: Store) -> pl.DataFrame:
    return telemetry_index.summarize(store.scan("gpu_usage")).sort("source", "period", "host")


def test_ingest_keeps_the_index_current(store: Store) -> None:
    store_usage(store, pl.concat([_usage("a", "GPU-1", "i-1", 1), _usage("b", "GPU-2", "i-2", 2)]))
    store_usage(store, _usage("a", "GPU-3", "i-1", 3))
    summary = telemetry_index.usage_summary(store)
    assert_frame_equal(summary, _rebuilt(store))
    row = summary.filter(pl.col("host") == "a").row(0, named=True)
    assert row["rows"] == 2
    assert row["gpu_uuids"] == ["GPU-1", "GPU-3"]
    assert row["resource_ids"] == ["i-1"]


def test_a_write_by_another_path_is_noticed(store: Store) -> None:
    store_usage(store, _usage("a", "GPU-1", "i-1", 1))
    store.append("gpu_usage", _usage("c", "GPU-9", "i-9", 4))
    summary = telemetry_index.usage_summary(store)
    assert sorted(summary["host"]) == ["a", "c"]
    assert_frame_equal(summary, _rebuilt(store))


def test_an_empty_ledger_has_an_empty_index(store: Store) -> None:
    assert telemetry_index.usage_summary(store).is_empty()
