"""Bad GPU telemetry: one clear error with the store unchanged, or its rows in quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.gpu import files
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Quarantine, Usage
from gpuledger.store.delta import Store
from tests.collect.test_gpu_stream import fleet

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _file(folder: Path, name: str, frame: pl.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / f"gpu_usage-{name}.parquet")
    return folder


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (pl.lit(True).alias(Usage.bucket_start), Usage.bucket_start),
        (pl.struct(pl.col(Usage.host)).alias(Usage.host), Usage.host),
    ],
    ids=["bool-timestamp", "struct-host"],
)
def test_a_file_of_the_wrong_schema_is_refused_and_the_store_kept(
    store: Store, settings: Settings, tmp_path: Path, change: pl.Expr, column: str
) -> None:
    rows = fleet(days=1)
    gpu.ingest(store, settings, str(_file(tmp_path / "ok", "ok", rows)))
    before = (store.version("gpu_usage"), store.read("gpu_usage").sort(Usage.bucket_start))
    bad = _file(tmp_path / "bad", "a-good", rows)  # a good file first: nothing of it is stored
    _file(bad, "b-bad", rows.with_columns(change))
    with pytest.raises(InputError) as caught:
        gpu.ingest(store, settings, str(bad))
    assert "gpu_usage-b-bad.parquet" in str(caught.value)
    assert column in str(caught.value)
    assert store.version("gpu_usage") == before[0]
    assert store.read("gpu_usage").sort(Usage.bucket_start).equals(before[1])
    assert store.state.ingest_runs(1)[0].status == "failed"


def test_impossible_rows_go_to_quarantine_with_their_file_row(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "SLICE_ROWS", 4)  # the bad rows sit in later slices
    rows = fleet(days=1, hosts=1, gpus=1, buckets_per_day=12).filter(
        pl.col(Usage.bucket_start) > T0  # one row per bucket
    )
    future = datetime.now(UTC) + timedelta(days=2)
    bad = rows.with_row_index("n").with_columns(
        pl.when(pl.col("n") == 4)
        .then(-1.0)
        .otherwise(pl.col(Usage.active_seconds))
        .alias(Usage.active_seconds),
        pl.when(pl.col("n") == 6).then(101.0).otherwise(pl.col(Usage.sm_util)).alias(Usage.sm_util),
        pl.when(pl.col("n") == 9)
        .then(pl.lit(future))
        .otherwise(pl.col(Usage.bucket_start))
        .alias(Usage.bucket_start),
    )
    src = _file(tmp_path / "s", "x", bad.drop("n"))
    result = gpu.ingest(store, settings, str(src))
    assert (result.rows, result.quarantined) == (8, 3)
    refused = store.read("quarantine").sort(Quarantine.row)
    assert refused.select(Quarantine.row, Quarantine.reason).rows() == [
        (5, "active_seconds is negative"),
        (7, "sm_util outside 0-100"),
        (10, "bucket_start is in the future"),
    ]
    assert store.read("gpu_usage")[Usage.bucket_start].max() < datetime.now(UTC)


def test_a_bucket_one_bucket_ahead_is_accepted(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Clock skew of up to one bucket between a host and the ledger is not an error."""
    now = datetime.now(UTC).replace(microsecond=0)
    rows = fleet(days=1, hosts=1, gpus=1, buckets_per_day=2).filter(pl.col(Usage.bucket_start) > T0)
    soon = rows.with_columns(pl.lit(now + timedelta(seconds=200)).alias(Usage.bucket_start))
    result = gpu.ingest(store, settings, str(_file(tmp_path / "s", "soon", soon)))
    assert (result.rows, result.quarantined) == (1, 0)
