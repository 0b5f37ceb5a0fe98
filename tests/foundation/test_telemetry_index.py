"""The telemetry index: kept by the GPU ingest, rebuilt when the table was written another way."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
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


def _noted_version(store: Store) -> int | None:
    with store.state.connect() as db:
        row = db.execute("SELECT table_version FROM usage_index_version").fetchone()
    return None if row is None else int(row["table_version"])


def test_incremental_updates_equal_a_rebuild(store: Store) -> None:
    first = pl.concat(
        [
            _usage("a", "GPU-1", "i-1", 1),
            _usage("a", "GPU-2", "i-1", 1),
            _usage("b", "GPU-3", "", 2),
        ]
    ).with_columns(pl.col(Usage.ResourceId).replace("", None))
    store_usage(store, first)
    store_usage(store, _usage("a", "GPU-1", "i-1", 3))
    # a restatement: host b's bucket learns its instance id, host a's bucket moves to i-7
    store_usage(store, _usage("b", "GPU-3", "i-3", 2))
    store_usage(store, _usage("a", "GPU-1", "i-7", 1))
    store_usage(store, _usage("a", "GPU-2", "i-7", 1))
    store_usage(store, _usage("a", "GPU-1", "i-7", 3))  # the last row of i-1 goes
    # the index was kept incrementally, never rebuilt: it notes the table's current version
    assert _noted_version(store) == store.version("gpu_usage")
    summary = telemetry_index.usage_summary(store)
    assert_frame_equal(summary, _rebuilt(store))
    by_host = {row["host"]: row for row in summary.iter_rows(named=True)}
    assert by_host["a"]["resource_ids"] == ["i-7"]
    assert by_host["a"]["rows"] == 3
    assert by_host["b"]["resource_ids"] == ["i-3"]
    assert by_host["b"]["gpu_hours_without_resource"] == 0.0


def test_gpu_hours_without_resource(store: Store) -> None:
    rows = pl.concat([_usage("a", "GPU-1", "i-1", 1), _usage("a", "GPU-2", "", 1)])
    store_usage(store, rows.with_columns(pl.col(Usage.ResourceId).replace("", None)))
    (row,) = telemetry_index.usage_summary(store).iter_rows(named=True)
    seconds = rows[Usage.active_seconds][1]
    assert row["gpu_hours_without_resource"] == pytest.approx(seconds / 3600)
    assert row["resource_ids"] == ["i-1"]
