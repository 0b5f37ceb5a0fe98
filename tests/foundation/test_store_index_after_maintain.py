"""The telemetry index across `gpuledger maintain`: compaction and vacuum change no row."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from gpuledger.collect.gpu.collector import store_usage
from gpuledger.schema import Usage, validate
from gpuledger.store import telemetry_index
from gpuledger.store.delta import Store
from gpuledger.store.maintain import maintain
from tests.factories import usage_rows


def _usage(host: str, gpu: str, day: int) -> pl.DataFrame:
    rows = usage_rows(
        {
            Usage.host: host,
            Usage.gpu_uuid: gpu,
            Usage.ResourceId: f"i-{host}",
            Usage.bucket_start: datetime(2026, 10, day, tzinfo=UTC),
        }
    ).with_columns(
        pl.lit("agent").alias(Usage.source), pl.lit("2026-10").alias(Usage.x_BillingPeriod)
    )
    return validate(rows, "gpu_usage")


def _noted_version(store: Store) -> int:
    with store.state.connect() as db:
        return int(db.execute("SELECT table_version FROM usage_index_version").fetchone()[0])


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the index's full-table tallies (rebuilds)."""
    counted: list[int] = []
    original = telemetry_index.record

    def counting(store: Store, rows: pl.DataFrame, table_version: int) -> None:
        counted.append(table_version)
        original(store, rows, table_version)

    monkeypatch.setattr(telemetry_index, "record", counting)
    return counted


def test_a_maintain_run_moves_the_index_without_a_rebuild(store: Store, scans: list[int]) -> None:
    for day in (1, 2, 3):  # three small files in one partition: compaction merges them
        store_usage(store, _usage("a", "GPU-1", day))
    before = telemetry_index.usage_summary(store)
    written = store.version("gpu_usage")
    results = maintain(store, ["gpu_usage"], retention_hours=0)
    assert results[0].files_compacted == 3
    assert results[0].files_vacuumed > 0
    assert store.version("gpu_usage") > (written or 0)

    after = telemetry_index.usage_summary(store)

    assert scans == []
    assert _noted_version(store) == store.version("gpu_usage")
    assert after.equals(before)


def test_a_data_write_after_maintain_still_rebuilds(store: Store, scans: list[int]) -> None:
    store_usage(store, _usage("a", "GPU-1", 1))
    store_usage(store, _usage("a", "GPU-1", 2))
    maintain(store, ["gpu_usage"], retention_hours=0)
    store.append("gpu_usage", _usage("c", "GPU-9", 4))  # not through the ingest: index stale

    summary = telemetry_index.usage_summary(store)

    assert scans == [store.version("gpu_usage")]
    assert sorted(summary["host"]) == ["a", "c"]
