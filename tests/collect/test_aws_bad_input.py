"""Bad AWS input: one clear error per fault and an untouched store; bad rows go to quarantine."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.report.health import store_health
from gpuledger.schema import Cost, Quarantine
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, data_export, legacy_csv, write_parquet


def good_export(root: Path) -> Path:
    data_export(
        root, "2026-10", [cur2_rows({}, {Cur.line_item_unblended_cost: 1.5})], execution="e1"
    )
    return root


def truncated_parquet(root: Path) -> str:
    path = write_parquet(cur2_rows({}), root / "cur.parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "cur.parquet"


def truncated_gzip(root: Path) -> str:
    path = legacy_csv(cur2_rows(*({} for _ in range(200))), root / "legacy.csv.gz")
    path.write_bytes(path.read_bytes()[:-40])
    return "legacy.csv.gz"


def missing_column(root: Path) -> str:
    write_parquet(cur2_rows({}).drop(Cur.line_item_unblended_cost), root / "cur.parquet")
    return Cur.line_item_unblended_cost


def unknown_currency(root: Path) -> str:
    write_parquet(cur2_rows({}, {Cur.line_item_currency_code: "XYZ"}), root / "cur.parquet")
    return "unknown currency 'XYZ'"


def mixed_currencies(root: Path) -> str:
    write_parquet(cur2_rows({}), root / "a.parquet")
    write_parquet(cur2_rows({Cur.line_item_currency_code: "EUR"}), root / "b.parquet")
    return "mixes currencies EUR, USD"


def boolean_cost_column(root: Path) -> str:
    frame = cur2_rows({}).with_columns(pl.lit(True).alias(Cur.line_item_unblended_cost))
    write_parquet(frame, root / "cur.parquet")
    return "column 'line_item_unblended_cost': column has type Boolean (expected decimal amount)"


def text_cost_column(root: Path) -> str:
    frame = cur2_rows({}, {}).with_columns(pl.lit("n/a").alias(Cur.line_item_unblended_cost))
    legacy_csv(frame, root / "legacy.csv.gz")
    return "column 'line_item_unblended_cost': no value of the column could be read"


def manifest_with_missing_file(root: Path) -> str:
    files = data_export(root, "2026-10", [cur2_rows({}), cur2_rows({})], execution="e2")
    files[1].unlink()
    return "1 of 2 listed file(s) missing"


FAULTS: dict[str, Callable[[Path], str]] = {
    "truncated parquet": truncated_parquet,
    "truncated gzip csv": truncated_gzip,
    "missing required column": missing_column,
    "unknown currency": unknown_currency,
    "two currencies in one period": mixed_currencies,
    "cost column of booleans": boolean_cost_column,
    "cost column of text": text_cost_column,
    "manifest names a missing file": manifest_with_missing_file,
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_bad_input_is_refused_and_store_unchanged(
    fault: Callable[[Path], str], store: Store, settings: Settings, tmp_path: Path
) -> None:
    aws.ingest(store, settings, str(good_export(tmp_path / "good")))
    before = store.read("cost")
    version = store.version("cost")
    bad = tmp_path / "bad"
    bad.mkdir()
    expected = fault(bad)
    with pytest.raises(InputError) as raised:
        aws.ingest(store, settings, str(bad))
    assert expected in str(raised.value)
    assert store.version("cost") == version
    assert_frame_equal(store.read("cost"), before)


def test_cli_exits_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    truncated_parquet(bad)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuledger",
            "--home",
            str(tmp_path / "home"),
            "ingest",
            "aws",
            *[str(bad)],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"{bad}/cur.parquet: cannot be read" in " ".join(result.stderr.split())


def test_invalid_rows_of_a_sound_file_are_quarantined(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    frame = cur2_rows(
        {Cur.line_item_unblended_cost: 2.0},
        {Cur.line_item_unblended_cost: 3.0},
        {Cur.line_item_unblended_cost: 4.0},
    ).with_columns(pl.col(Cur.line_item_unblended_cost).cast(pl.String))
    frame = frame.with_columns(
        pl.Series(Cur.line_item_unblended_cost, ["2.0", "three dollars", "4.0"]),
        pl.when(pl.int_range(pl.len()) == 2)
        .then(None)
        .otherwise(pl.col(Cur.line_item_usage_start_date))
        .alias(Cur.line_item_usage_start_date),
    )
    path = legacy_csv(frame, tmp_path / "src" / "legacy.csv.gz")
    result = aws.ingest(store, settings, str(path.parent))
    assert (result.rows, result.quarantined) == (1, 2)
    assert store.read("cost").get_column(Cost.BilledCost).to_list() == [Decimal("2")]
    refused = store.read("quarantine").sort(Quarantine.row)
    assert refused.select(Quarantine.row, Quarantine.column, Quarantine.reason).rows() == [
        (2, Cur.line_item_unblended_cost, "line_item_unblended_cost: not a valid decimal amount"),
        (3, Cur.line_item_usage_start_date, "line_item_usage_start_date: empty"),
    ]
    assert json.loads(refused.get_column(Quarantine.raw)[0])[Cur.line_item_unblended_cost] == (
        "three dollars"
    )
    assert refused.get_column(Quarantine.cost).to_list() == [None, Decimal("4")]
    health = store_health(store, settings).quarantine
    assert sorted((q["x_BillingPeriod"], q["reason"], q["rows"], q["cost"]) for q in health) == [
        ("2026-10", "line_item_unblended_cost: not a valid decimal amount", 1, "0.00"),
        ("2026-10", "line_item_usage_start_date: empty", 1, "4.00"),
    ]
