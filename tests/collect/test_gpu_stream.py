"""`ingest gpu` at fleet scale: slices, bucket replacement by predicate, old table layouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable, write_deltalake
from polars.testing import assert_frame_equal

from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.gpu import files
from gpuledger.config import Settings
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage
from gpuledger.store.delta import Store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BUCKET = timedelta(minutes=5)
ORDER = [Usage.bucket_start, Usage.host, Usage.gpu_uuid, Usage.pod]


def fleet(days: int, hosts: int = 3, gpus: int = 2, buckets_per_day: int = 4) -> pl.DataFrame:
    """A small fleet: every GPU busy in every bucket, each pod's activity split in two processes
    in the first bucket of each day (rows the ingest must combine)."""
    rows = []
    for day in range(days):
        for bucket in range(buckets_per_day):
            start = T0 + timedelta(days=day) + bucket * BUCKET
            for host in range(hosts):
                for index in range(gpus):
                    parts = 2 if bucket == 0 else 1
                    for part in range(parts):
                        rows.append(
                            {
                                Usage.bucket_start: start,
                                Usage.bucket_seconds: 300,
                                Usage.host: f"h{host}",
                                Usage.ResourceId: f"i-{host}" if host else None,
                                Usage.gpu_uuid: f"GPU-{host}-{index}",
                                Usage.gpu_index: index,
                                Usage.pod: f"pod-{host}-{index}",
                                Usage.active_seconds: 300.0 / parts,
                                Usage.sm_util: 10.0 + 20 * part + bucket,
                                Usage.samples: 300 // parts,
                                Usage.util_method: "process",
                                Usage.source: "agent",
                            }
                        )
    frame = pl.DataFrame(rows)
    return frame.cast({name: GPU_USAGE_SCHEMA[name] for name in frame.columns})


def canonical(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows as the store keeps them: every column, the month filled in."""
    period = pl.col(Usage.bucket_start).dt.strftime("%Y-%m").alias(Usage.x_BillingPeriod)
    missing = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in GPU_USAGE_SCHEMA.items()
        if name not in rows.columns
    ]
    return rows.with_columns(*missing).with_columns(period).select(GPU_USAGE_SCHEMA.names())


def stored(store: Store) -> pl.DataFrame:
    return store.read("gpu_usage").select(GPU_USAGE_SCHEMA.names()).sort(ORDER, nulls_last=True)


def _write(folder: Path, frames: dict[str, pl.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"gpu_usage-{name}.parquet")
    return folder


def test_sliced_and_split_input_stores_what_one_read_stores(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = fleet(days=3)
    whole = Store(tmp_path / "whole")
    gpu.ingest(whole, settings, str(_write(tmp_path / "one", {"all": rows})))
    # the same rows in several files, a bucket's two process rows in different files, read in
    # slices of 7 rows
    monkeypatch.setattr(files, "SLICE_ROWS", 7)
    parts = rows.with_row_index("n").with_columns((pl.col("n") % 4).alias("part"))
    split = {
        str(k[0]): part.drop("n", "part")
        for k, part in parts.partition_by("part", as_dict=True).items()
    }
    sliced = Store(tmp_path / "sliced")
    result = gpu.ingest(sliced, settings, str(_write(tmp_path / "many", split)))
    assert_frame_equal(stored(sliced), stored(whole))
    expected = gpu.combine_duplicates(canonical(rows))
    assert_frame_equal(stored(whole), expected.sort(ORDER, nulls_last=True))
    assert (result.rows, result.buckets, result.gpus, result.hosts) == (72, 12, 6, 3)
    assert sliced.version("gpu_usage") == 0  # one commit for the whole ingest


def test_a_restated_bucket_replaces_only_its_own_rows(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = fleet(days=2)
    gpu.ingest(store, settings, str(_write(tmp_path / "month", {"m": rows})))
    before = stored(store)
    # bucket 2 of day 1 on GPU-1-0 is restated: one pod became two; its neighbours stay
    when = T0 + timedelta(days=1) + 2 * BUCKET
    base = rows.filter((pl.col(Usage.bucket_start) == when) & (pl.col(Usage.gpu_uuid) == "GPU-1-0"))
    restated = pl.concat(
        [
            base.with_columns(
                pl.lit("a").alias(Usage.pod), pl.lit(100.0).alias(Usage.active_seconds)
            ),
            base.with_columns(
                pl.lit("b").alias(Usage.pod), pl.lit(200.0).alias(Usage.active_seconds)
            ),
        ]
    )
    gpu.ingest(store, settings, str(_write(tmp_path / "restated", {"r": restated})))
    after = stored(store)
    key = (pl.col(Usage.bucket_start) == when) & (pl.col(Usage.gpu_uuid) == "GPU-1-0")
    assert after.filter(key)[Usage.pod].to_list() == ["a", "b"]
    assert_frame_equal(after.filter(~key), before.filter(~key))
    # and again with one workload only: no stale row of "b" is left
    gpu.ingest(store, settings, str(_write(tmp_path / "fewer", {"f": restated.head(1)})))
    assert stored(store).filter(key)[Usage.pod].to_list() == ["a"]
    assert stored(store).height == before.height


def test_a_restated_bucket_rewrites_only_the_files_that_hold_it(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = fleet(days=3)
    for day in range(3):
        start = T0 + timedelta(days=day)
        one_day = rows.filter(
            pl.col(Usage.bucket_start).is_between(start, start + timedelta(days=1), "left")
        )
        gpu.ingest(store, settings, str(_write(tmp_path / f"d{day}", {f"{day}": one_day})))
    restated = rows.filter(pl.col(Usage.bucket_start) == T0 + timedelta(days=1) + BUCKET)
    gpu.ingest(store, settings, str(_write(tmp_path / "again", {"b": restated})))
    metrics = DeltaTable(store.uri("gpu_usage")).history(1)[0]["operationMetrics"]
    assert (metrics["num_removed_files"], metrics["num_added_files"]) == (1, 1)
    next_bucket = fleet(days=4).filter(pl.col(Usage.bucket_start) == T0 + timedelta(days=3))
    gpu.ingest(store, settings, str(_write(tmp_path / "next", {"n": next_bucket})))
    metrics = DeltaTable(store.uri("gpu_usage")).history(1)[0]["operationMetrics"]
    assert metrics["num_removed_files"] == 0  # a new bucket rewrites nothing


def test_a_table_in_the_old_host_partitioned_layout_keeps_working(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = fleet(days=2)
    first = gpu.combine_duplicates(canonical(rows))
    old_layout = [Usage.source, Usage.x_BillingPeriod, Usage.host]
    write_deltalake(store.uri("gpu_usage"), first.to_arrow(), partition_by=old_layout)
    restated = rows.filter(pl.col(Usage.bucket_start) == T0 + BUCKET).with_columns(
        pl.lit(99.0).alias(Usage.sm_util)
    )
    gpu.ingest(store, settings, str(_write(tmp_path / "r", {"r": restated})))
    got = stored(store)
    assert got.height == first.height
    changed = got.filter(pl.col(Usage.bucket_start) == T0 + BUCKET)
    assert changed[Usage.sm_util].to_list() == [99.0] * 6
    unchanged = got.filter(pl.col(Usage.bucket_start) != T0 + BUCKET)
    assert_frame_equal(
        unchanged,
        first.filter(pl.col(Usage.bucket_start) != T0 + BUCKET).sort(ORDER, nulls_last=True),
    )
    assert DeltaTable(store.uri("gpu_usage")).metadata().partition_columns == old_layout


def test_new_tables_are_partitioned_by_source_and_month(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    gpu.ingest(store, settings, str(_write(tmp_path / "m", {"m": fleet(days=1)})))
    columns = DeltaTable(store.uri("gpu_usage")).metadata().partition_columns
    assert columns == [Usage.source, Usage.x_BillingPeriod]


def test_processes_of_one_job_add_their_activity() -> None:
    base = canonical(fleet(days=1, hosts=1, gpus=1, buckets_per_day=1)).with_columns(
        pl.lit(300.0).alias(Usage.active_seconds), pl.Series(Usage.sm_util, [39.4, 50.9])
    )
    (row,) = gpu.combine_duplicates(base).iter_rows(named=True)
    assert row[Usage.active_seconds] == 300.0
    assert row[Usage.sm_util] == pytest.approx(39.4 + 50.9)
    # past the bucket, the product is capped at bucket_seconds x 100
    busy = base.with_columns(pl.Series(Usage.sm_util, [80.0, 70.0]))
    (row,) = gpu.combine_duplicates(busy).iter_rows(named=True)
    assert (row[Usage.active_seconds], row[Usage.sm_util]) == (300.0, 100.0)
