"""`gpuledger ingest focus` streamed through staged files: split exports, refused rows at scale."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from gpuledger.collect.focus import collector as focus
from gpuledger.config import Settings
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.focus_rows import BASE_ROW

LINEAGE = [Cost.x_SourceFile, Cost.x_SourceRow, Cost.x_IngestId]


def _export(rows: int) -> pl.DataFrame:
    """``rows`` FOCUS rows as text, over two accounts, with distinct costs and tag sets."""
    index = pl.int_range(0, rows, eager=True)
    base = pl.DataFrame([BASE_ROW] * rows)
    return base.with_columns(
        pl.format("acct-{}", index % 2).alias("BillingAccountId"),
        pl.format("{}.{}", index % 97, index % 1000).alias("BilledCost"),
        pl.format("0.{}", index % 7 + 1).alias("EffectiveCost"),
        pl.format('{{"team": "t{}"}}', index % 5).alias("Tags"),
        pl.format("vm-{}", index).alias("ResourceId"),
    )


def _stored(store: Store) -> pl.DataFrame:
    return store.read("cost").drop(LINEAGE).sort(Cost.ResourceId)


def test_an_export_split_in_files_stores_what_the_whole_file_stores(tmp_path: Path) -> None:
    export = _export(9_000)
    whole, split = tmp_path / "whole", tmp_path / "split"
    whole.mkdir()
    split.mkdir()
    export.write_parquet(whole / "export.parquet")
    for number, part in enumerate(export.iter_slices(2_500)):
        part.write_parquet(split / f"part-{number}.parquet")

    one = focus.ingest(Store(tmp_path / "one"), Settings(), str(whole))
    many = focus.ingest(Store(tmp_path / "many"), Settings(), str(split))

    assert one.rows == many.rows == 9_000
    assert_frame_equal(_stored(Store(tmp_path / "one")), _stored(Store(tmp_path / "many")))


def test_a_refused_row_mid_file_is_quarantined_by_its_row_and_the_rest_stored(
    store: Store, tmp_path: Path
) -> None:
    export = _export(300_000).with_columns(
        pl.when(pl.int_range(0, pl.len()) == 262_143)
        .then(pl.lit("twelve"))
        .otherwise(pl.col("BilledCost"))
        .alias("BilledCost")
    )
    path = tmp_path / "export.parquet"
    export.write_parquet(path)

    result = focus.ingest(store, Settings(), str(path))

    quarantined = store.read("quarantine")
    assert result.rows == 299_999
    assert quarantined.select("row", "column", "file").rows() == [
        (262_144, Cost.BilledCost, str(path))
    ]
    assert '"BilledCost":"twelve"' in quarantined.get_column("raw")[0]
    stored = store.read("cost")
    assert not stored.get_column(Cost.x_SourceRow).is_in([262_144]).any()
    sound = export.filter(pl.col("BilledCost") != "twelve")
    expected = sound.get_column("BilledCost").str.to_decimal(scale=18).sum()
    assert stored.get_column(Cost.BilledCost).sum() == expected
    assert stored.get_column(Cost.BilledCost).sum() > Decimal(0)
