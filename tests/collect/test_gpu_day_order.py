"""Day-ordered Parquet telemetry streams into the store without a spill, storing the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.files import list_files
from gpuledger.collect.gpu import collector as gpu
from gpuledger.collect.gpu import files
from gpuledger.collect.gpu.day_order import day_ordered
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Usage
from gpuledger.store.delta import Store
from tests.collect.test_gpu_stream import ORDER, canonical, fleet, stored


def _write(folder: Path, frames: dict[str, pl.DataFrame], *, row_group_size: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(folder / f"gpu_usage-{name}.parquet", row_group_size=row_group_size)
    return folder


def _days(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    day = pl.col(Usage.bucket_start).dt.date().alias("day")
    parts = rows.with_columns(day).partition_by("day", as_dict=True, include_key=False)
    return {str(key[0]): part for key, part in parts.items()}


def _layouts() -> dict[str, tuple[dict[str, pl.DataFrame], bool]]:
    rows = fleet(days=3)
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=3)
    return {
        "daily-files": (_days(rows), True),
        "month-file-in-time-order": ({"month": rows}, True),
        "daily-files-named-out-of-order": (
            {f"{9 - i}": part for i, part in enumerate(_days(rows).values())},
            True,
        ),
        "month-file-shuffled": ({"month": shuffled}, False),
        "two-files-of-the-same-days": ({"a": rows[::2], "b": rows[1::2]}, False),
    }


@pytest.mark.parametrize(("name"), list(_layouts()))
def test_day_order_is_read_from_row_group_statistics(tmp_path: Path, name: str) -> None:
    frames, ordered = _layouts()[name]
    src = _write(tmp_path / name, frames)
    assert (day_ordered(list_files(str(src), files.FILE_PATTERNS)) is not None) == ordered


def test_csv_input_takes_the_spill(tmp_path: Path) -> None:
    src = tmp_path / "csv"
    src.mkdir()
    fleet(days=1).write_csv(src / "gpu_usage-a.csv")
    assert day_ordered(list_files(str(src), files.FILE_PATTERNS)) is None


@pytest.mark.parametrize(("name"), list(_layouts()))
def test_every_layout_stores_the_combined_rows(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Slices of 7 rows and row groups of 5: days and a bucket's two processes cross slices,
    row groups and (daily files cut mid-day) files."""
    monkeypatch.setattr(files, "SLICE_ROWS", 7)
    frames, _ = _layouts()[name]
    store = Store(tmp_path / "home")
    result = gpu.ingest(store, settings, str(_write(tmp_path / name, frames)))
    rows = fleet(days=3)
    expected = gpu.combine_duplicates(canonical(rows)).sort(ORDER, nulls_last=True)
    assert_frame_equal(stored(store), expected)
    assert (result.rows, result.buckets, store.version("gpu_usage")) == (72, 12, 0)


def test_a_day_cut_across_files_is_combined_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "SLICE_ROWS", 4)
    rows = fleet(days=2)
    cut = {"a": rows[:5], "b": rows[5:31], "c": rows[31:]}  # a bucket's two processes split
    src = _write(tmp_path / "cut", cut, row_group_size=3)
    assert day_ordered(list_files(str(src), files.FILE_PATTERNS)) is not None
    store = Store(tmp_path / "home")
    gpu.ingest(store, settings, str(src))
    expected = gpu.combine_duplicates(canonical(rows)).sort(ORDER, nulls_last=True)
    assert_frame_equal(stored(store), expected)


def test_a_value_refused_while_streaming_leaves_the_store_unchanged(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = fleet(days=2)
    gpu.ingest(store, settings, str(_write(tmp_path / "first", _days(rows))))
    before = (store.version("gpu_usage"), stored(store))

    first, second = _days(rows.with_columns(pl.col(Usage.sm_util) * 0.5)).values()
    row = pl.int_range(pl.len()) == 3
    first = first.with_columns(  # a row for quarantine, in the file read before the refusal
        pl.when(row).then(200.0).otherwise(pl.col(Usage.sm_util)).alias(Usage.sm_util)
    )
    second = second.with_columns(  # fits the schema's type, not one value
        pl.when(row).then(2**40).otherwise(pl.col(Usage.gpu_index)).alias(Usage.gpu_index)
    )
    src = _write(tmp_path / "again", {"1": first, "2": second})
    assert day_ordered(list_files(str(src), files.FILE_PATTERNS)) is not None
    with pytest.raises(InputError) as caught:
        gpu.ingest(store, settings, str(src))

    assert "gpu_usage-2.parquet" in str(caught.value)
    assert Usage.gpu_index in str(caught.value)
    assert store.version("gpu_usage") == before[0]
    assert_frame_equal(stored(store), before[1])
    assert not store.exists("quarantine")
