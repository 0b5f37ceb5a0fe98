"""FOCUS and CUR files are mapped and staged in slices, streamed: the same rows, row numbers and
quarantine as one pass over the whole file, whatever the slice size."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.focus import collector as focus
from gpuledger.config import Settings
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, legacy_csv
from tests.collect.focus_rows import write_focus_csv

_ORDER = [Cost.x_SourceFile, Cost.x_SourceRow]


def _stored(store: Store) -> pl.DataFrame:
    return store.read("cost").drop(Cost.x_IngestId).sort(_ORDER)


def _quarantined(store: Store) -> pl.DataFrame:
    return store.read("quarantine").drop("x_IngestId").sort("file", "row")


def _ingest_twice(
    tmp_path: Path, ingest: object, src: str, monkeypatch: pytest.MonkeyPatch, setting: tuple
) -> tuple[Store, Store]:
    """The same source ingested whole and then in tiny slices, into two stores."""
    assert callable(ingest)
    whole = Store(tmp_path / "whole")
    ingest(whole, Settings(), src)
    monkeypatch.setattr(*setting)
    sliced = Store(tmp_path / "sliced")
    ingest(sliced, Settings(), src)
    return whole, sliced


def test_a_focus_file_mapped_in_slices_stores_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"BilledCost": str(n)} for n in range(1, 8)]
    rows[4] = {"BilledCost": "n/a"}
    path = write_focus_csv(tmp_path / "focus.csv", *rows)

    whole, sliced = _ingest_twice(
        tmp_path, focus.ingest, str(path), monkeypatch, (focus, "SLICE_ROWS", 2)
    )

    assert sliced.read("cost").get_column(Cost.x_SourceRow).sort().to_list() == [1, 2, 3, 4, 6, 7]
    assert_frame_equal(_stored(sliced), _stored(whole))
    assert_frame_equal(_quarantined(sliced), _quarantined(whole))
    assert _quarantined(sliced).get_column("row").to_list() == [5]


def test_a_streamed_cur_file_keeps_its_refused_rows_costs_and_content(tmp_path: Path) -> None:
    frame = cur2_rows(*({Cur.line_item_unblended_cost: n / 4} for n in range(1, 6)))
    path = legacy_csv(frame, tmp_path / "cur.csv.gz")
    text = gzip.decompress(path.read_bytes()).decode().splitlines()
    header = text[0].split(",")
    cells = text[3].split(",")
    cells[header.index("lineItem/UsageStartDate")] = "yesterday"
    text[3] = ",".join(cells)
    path.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    store = Store(tmp_path / "home")

    aws.ingest(store, Settings(), str(path))

    assert store.read("cost").get_column(Cost.x_SourceRow).sort().to_list() == [1, 2, 4, 5]
    refused = _quarantined(store)
    assert refused.select("row", "cost").rows() == [(3, pytest.approx(0.75))]
    assert json.loads(refused.get_column("raw")[0])["line_item_usage_start_date"] == "yesterday"
