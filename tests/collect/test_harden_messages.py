"""Refusals name the file, that file's own row and the column at fault; empty GCP files refused.

Issue #19 items 6 and 12.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.gcp import collector as gcp
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Quarantine
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, write_parquet
from tests.collect.test_fuzz_billing import ingest, snapshot
from tests.conftest import FIXTURES

EXPORT = FIXTURES / "gcp" / "export_resource_v1.json"


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EXPORT.read_text(encoding="utf-8").splitlines()]


def _text(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")


def zero_bytes_gz(folder: Path) -> tuple[Path, str]:
    path = folder / "export.json.gz"
    path.write_bytes(b"")
    return path, "holds no rows"


def empty_gzip(folder: Path) -> tuple[Path, str]:
    path = folder / "export.json.gz"
    path.write_bytes(gzip.compress(b""))
    return path, "holds no rows"


def no_cost_field(folder: Path) -> tuple[Path, str]:
    path = folder / "export.json"
    path.write_bytes(_text([{k: v for k, v in row.items() if k != "cost"} for row in _rows()]))
    return path, "column 'cost': missing required field(s) cost"


def no_cost_field_parquet(folder: Path) -> tuple[Path, str]:
    path = folder / "export.parquet"
    pl.read_ndjson(EXPORT).drop("cost").write_parquet(path)
    return path, "column 'cost': missing required field(s) cost"


GCP_FILES: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "zero-byte json.gz": zero_bytes_gz,
    "gzip of nothing": empty_gzip,
    "json without cost": no_cost_field,
    "parquet without cost": no_cost_field_parquet,
}


@pytest.mark.parametrize("make", GCP_FILES.values(), ids=GCP_FILES)
def test_an_empty_gcp_file_or_one_missing_a_required_field_is_refused(
    tmp_path: Path, make: Callable[[Path], tuple[Path, str]]
) -> None:
    home = tmp_path / "home"
    assert ingest(home, "gcp", EXPORT).exit_code == 0
    before = snapshot(home)
    bad = tmp_path / "bad"
    bad.mkdir()
    file, expected = make(bad)

    outcome = ingest(home, "gcp", bad)

    assert outcome.exit_code == 2, outcome
    assert f"{file}" in outcome.message
    assert expected in outcome.message
    assert snapshot(home) == before


def test_gcp_rows_are_numbered_in_their_file_when_a_period_is_chosen(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = _rows()
    months = [row["invoice"]["month"] for row in rows]
    october = [number for number, month in enumerate(months, start=1) if month == "202610"]
    bad_row = october[-1]
    rows[bad_row - 1] = {**rows[bad_row - 1], "cost": "abc"}
    path = tmp_path / "export.json"
    path.write_bytes(_text(rows))

    gcp.ingest(store, settings, str(path), periods=["2026-10"])

    refused = store.read("quarantine")
    assert refused.select(Quarantine.row, Quarantine.column).rows() == [(bad_row, "cost")]


def test_two_currencies_in_one_period_name_the_files_and_their_rows(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    write_parquet(cur2_rows({}, {}), tmp_path / "a.parquet")
    write_parquet(cur2_rows({}, {Cur.line_item_currency_code: "EUR"}), tmp_path / "b.parquet")

    with pytest.raises(InputError) as raised:
        aws.ingest(store, settings, str(tmp_path))

    message = str(raised.value)
    assert f"EUR first in {tmp_path / 'b.parquet'} row 2" in message
    assert f"USD first in {tmp_path / 'a.parquet'} row 1" in message


def test_a_cur_billing_period_ending_before_it_starts_is_quarantined_on_its_own_column(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = cur2_rows({}, {}).with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.datetime(2026, 9, 1))
        .otherwise(pl.col(Cur.bill_billing_period_end_date))
        .alias(Cur.bill_billing_period_end_date)
    )
    write_parquet(cur2_rows({Cur.line_item_unblended_cost: 9.0}), tmp_path / "a.parquet")
    write_parquet(rows, tmp_path / "b.parquet")

    aws.ingest(store, settings, str(tmp_path))

    refused = store.read("quarantine")
    assert refused.select(Quarantine.file, Quarantine.row, Quarantine.column).rows() == [
        (str(tmp_path / "b.parquet"), 2, Cur.bill_billing_period_end_date)
    ]
