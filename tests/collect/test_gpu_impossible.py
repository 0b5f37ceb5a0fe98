"""Impossible telemetry values go to quarantine with a reason naming the column (#19 item 7)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.gpu import dcgm
from gpuledger.config import Settings
from gpuledger.schema import GPU_USAGE_SCHEMA, MODEL_TOKENS_SCHEMA, Quarantine, Usage
from gpuledger.store.delta import Store
from gpuledger.store.telemetry_index import usage_summary
from tests.collect.test_gpu_stream import canonical, fleet

GIB = 2**30
BAD_ROW = 3  # the file's 1-based data row that carries the impossible value


def _measured(rows: pl.DataFrame) -> pl.DataFrame:
    """The fleet's rows with plausible power and memory readings of an 80 GiB GPU."""
    return rows.with_columns(
        pl.lit(350.0).alias(Usage.power_w),
        pl.lit(20 * GIB).alias(Usage.mem_used_bytes),
        pl.lit(80 * GIB).alias(Usage.mem_total_bytes),
    ).cast({name: GPU_USAGE_SCHEMA[name] for name in (Usage.mem_used_bytes, Usage.mem_total_bytes)})


def _with_bad_row(rows: pl.DataFrame, values: dict[str, Any]) -> pl.DataFrame:
    index = pl.int_range(pl.len()) == BAD_ROW - 1
    return rows.with_columns(
        pl.when(index).then(pl.lit(value, rows.schema[name])).otherwise(pl.col(name)).alias(name)
        for name, value in values.items()
    )


CASES = {
    "power-inf": ({Usage.power_w: math.inf}, Usage.power_w),
    "power-nan": ({Usage.power_w: math.nan}, Usage.power_w),
    "power-negative": ({Usage.power_w: -5.0}, Usage.power_w),
    "memory-negative": ({Usage.mem_used_bytes: -1}, Usage.mem_used_bytes),
    "memory-10x-total": ({Usage.mem_used_bytes: 800 * GIB}, Usage.mem_used_bytes),
    "memory-total-zero": ({Usage.mem_total_bytes: 0}, Usage.mem_total_bytes),
    "sm-util-nan": ({Usage.sm_util: math.nan}, Usage.sm_util),
    "sm-util-200": ({Usage.sm_util: 200.0}, Usage.sm_util),
    "active-seconds-nan": ({Usage.active_seconds: math.nan}, Usage.active_seconds),
    "active-seconds-negative": ({Usage.active_seconds: -1.0}, Usage.active_seconds),
    "samples-negative": ({Usage.samples: -3}, Usage.samples),
    "year-2200": ({Usage.bucket_start: datetime(2200, 1, 1, tzinfo=UTC)}, Usage.bucket_start),
}


@pytest.mark.parametrize(("values", "column"), CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_an_impossible_value_is_quarantined_with_its_column_and_row(
    store: Store,
    settings: Settings,
    tmp_path: Path,
    values: dict[str, Any],
    column: str,
    suffix: str,
) -> None:
    rows = _measured(fleet(days=1, hosts=1, gpus=1, buckets_per_day=6))
    src = tmp_path / "spool"
    src.mkdir()
    bad = _with_bad_row(rows, values)
    path = src / f"gpu_usage-x.{suffix}"
    if suffix == "csv":
        bad.write_csv(path)
    else:
        bad.write_parquet(path)

    result = gpu.ingest(store, settings, str(src))

    refused = store.read("quarantine")
    assert refused.select(Quarantine.file, Quarantine.row).rows() == [(str(path), BAD_ROW)]
    assert refused[Quarantine.reason][0].startswith(column)
    assert result.quarantined == 1
    assert store.read("gpu_usage").height == result.rows
    assert result.rows == rows.height - 2  # the bad row, and its pair of processes combined
    assert usage_summary(store)["last_bucket"].max() < datetime.now(UTC)


def test_a_file_of_only_impossible_rows_changes_no_usage_row(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = _measured(fleet(days=1, hosts=1, gpus=1))
    src = tmp_path / "spool"
    src.mkdir()
    rows.write_parquet(src / "gpu_usage-good.parquet")
    gpu.ingest(store, settings, str(src))
    before = store.read("gpu_usage").sort(Usage.bucket_start, Usage.pod)

    again = tmp_path / "again"
    again.mkdir()
    rows.with_columns(pl.lit(math.inf).alias(Usage.power_w)).write_parquet(
        again / "gpu_usage-bad.parquet"
    )
    result = gpu.ingest(store, settings, str(again))

    assert (result.rows, result.quarantined) == (0, rows.height)
    assert store.read("gpu_usage").sort(Usage.bucket_start, Usage.pod).equals(before)
    reasons = store.read("quarantine")[Quarantine.reason].unique().to_list()
    assert reasons == ["power_w outside 0 to a finite number of watts"]


def test_impossible_prometheus_rows_are_quarantined_with_the_query(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = gpu.combine_duplicates(
        canonical(_measured(fleet(days=1, hosts=1, gpus=1, buckets_per_day=6)))
    )
    bad = _with_bad_row(rows, {Usage.power_w: math.inf}).with_columns(
        pl.lit("dcgm").alias(Usage.source)
    )
    tokens = pl.DataFrame(schema=MODEL_TOKENS_SCHEMA)
    monkeypatch.setattr(dcgm, "read_prometheus", lambda *args, **kwargs: (bad, tokens))

    result = gpu.ingest(store, settings, "prometheus+http://prometheus:9090")

    assert (result.rows, result.quarantined) == (rows.height - 1, 1)
    refused = store.read("quarantine")
    assert refused[Quarantine.file][0].startswith("prometheus+http://prometheus:9090 [")
    assert refused[Quarantine.reason][0].startswith(Usage.power_w)
    assert store.read("gpu_usage")[Usage.power_w].is_finite().all()
