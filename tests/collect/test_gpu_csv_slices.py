"""CSV telemetry is read in slices, like Parquet: memory follows the slice, not the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.files import SourceFile
from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.gpu import files
from gpuledger.config import Settings
from gpuledger.store.delta import Store
from tests.collect.test_gpu_stream import fleet, stored


def _csv(rows: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.write_csv(path)
    return path


def test_a_csv_longer_than_a_slice_is_read_in_slices(tmp_path: Path) -> None:
    rows = fleet(days=1)  # 30 rows
    path = _csv(rows, tmp_path / "gpu_usage.csv")

    slices = list(files.read_usage_slices(SourceFile(str(path), path.stat().st_size), 7))

    assert [part.height for part, _ in slices] == [7, 7, 7, 7, 2]
    whole, _ = files.read_usage_file(SourceFile(str(path), path.stat().st_size))
    assert_frame_equal(pl.concat([part for part, _ in slices]), whole)


def test_a_sliced_csv_stores_what_the_same_rows_as_parquet_store(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = fleet(days=3).with_columns(pl.lit(None, pl.String).alias("namespace"))
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    rows.write_parquet(parquet / "gpu_usage.parquet")
    from_parquet = Store(tmp_path / "from-parquet")
    gpu.ingest(from_parquet, settings, str(parquet))

    monkeypatch.setattr(files, "SLICE_ROWS", 7)
    csv = _csv(rows.head(50), tmp_path / "csv" / "gpu_usage.csv")
    rest = _csv(rows.tail(rows.height - 50), tmp_path / "rest.csv")
    with gzip.open(tmp_path / "csv" / "gpu_usage-rest.csv.gz", "wb") as packed:
        packed.write(rest.read_bytes())
    from_csv = Store(tmp_path / "from-csv")
    result = gpu.ingest(from_csv, settings, str(csv.parent))

    assert_frame_equal(stored(from_csv), stored(from_parquet))
    assert result.quarantined == 0


def test_a_csv_with_a_bad_value_names_its_row_across_slices(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = fleet(days=1).with_columns(pl.col("sm_util").cast(pl.String))
    text = rows.with_columns(  # the 21st data row, in the third slice of 7
        pl.when(pl.int_range(pl.len()) == 20)
        .then(pl.lit("busy"))
        .otherwise(pl.col("sm_util"))
        .alias("sm_util")
    )
    monkeypatch.setattr(files, "SLICE_ROWS", 7)
    store = Store(tmp_path / "home")
    result = gpu.ingest(store, settings, str(_csv(text, tmp_path / "in" / "gpu_usage.csv")))

    refused = store.read("quarantine")
    assert result.quarantined == 1
    assert refused["row"].to_list() == [21]
    assert "sm_util" in refused["reason"][0]
