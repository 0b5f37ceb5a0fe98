"""Which files count: newest assembly only, manifests over listings, re-deliveries replace."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.collect.aws.deliveries import find_deliveries
from gpuledger.config import Settings
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, data_export, legacy_report, write_parquet

SEPTEMBER = {
    Cur.bill_billing_period_start_date: datetime(2026, 9, 1),
    Cur.bill_billing_period_end_date: datetime(2026, 10, 1),
    Cur.line_item_usage_start_date: datetime(2026, 9, 3, 5),
    Cur.line_item_usage_end_date: datetime(2026, 9, 3, 6),
    Cur.bill_invoice_id: "2026091850417",
}


def costs(store: Store) -> list[tuple[str, Decimal]]:
    frame = store.read("cost").group_by(Cost.x_BillingPeriod).agg(pl.col(Cost.BilledCost).sum())
    return sorted(frame.rows())


def test_legacy_cur_reads_only_the_assembly_the_manifest_names(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    period = ("20261001", "20261101")
    legacy_report(tmp_path, period, "aaaa-old", [cur2_rows({Cur.line_item_unblended_cost: 1.0})])
    legacy_report(
        tmp_path,
        period,
        "bbbb-new",
        [
            cur2_rows({Cur.line_item_unblended_cost: 2.0}),
            cur2_rows({Cur.line_item_unblended_cost: 3.0}),
        ],
    )
    [delivery] = find_deliveries(str(tmp_path))
    assert (delivery.layout, delivery.delivery_id, delivery.period) == (
        "legacy-cur",
        "bbbb-new",
        "2026-10",
    )
    aws.ingest(store, settings, str(tmp_path))
    assert costs(store) == [("2026-10", Decimal("5"))]
    assert store.state.delivery_of("aws", "999999999999", "2026-10") == "bbbb-new"


def test_data_export_ignores_files_its_manifest_does_not_list(tmp_path: Path) -> None:
    files = data_export(tmp_path, "2026-10", [cur2_rows({})], execution="exec-1")
    write_parquet(cur2_rows({}), files[0].parent / "leftover-from-an-older-run.parquet")
    [delivery] = find_deliveries(str(tmp_path))
    assert [f.uri for f in delivery.files] == [str(files[0])]
    assert (delivery.layout, delivery.delivery_id) == ("data-export", "exec-1")


def test_redelivery_replaces_its_period_and_leaves_others(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    data_export(first, "2026-09", [cur2_rows(SEPTEMBER)], execution="sep")
    data_export(first, "2026-10", [cur2_rows({}, {})], execution="oct-1")
    aws.ingest(store, settings, str(first))
    assert costs(store) == [("2026-09", Decimal("55.04")), ("2026-10", Decimal("110.08"))]
    restated = cur2_rows({}, {}, {Cur.line_item_unblended_cost: 1.5})
    data_export(second, "2026-10", [restated], execution="oct-2")
    aws.ingest(store, settings, str(second))
    aws.ingest(store, settings, str(second))
    assert costs(store) == [("2026-09", Decimal("55.04")), ("2026-10", Decimal("111.58"))]
    assert store.read("cost").height == 4


@pytest.mark.parametrize(
    ("invoice_ids", "invoiced"),
    [([None, None], False), (["2026101", None], False), (["2026101", "2026101"], True)],
    ids=["open month", "partly invoiced", "invoiced"],
)
def test_period_is_invoiced_once_every_row_carries_an_invoice_id(
    invoice_ids: list[str | None], invoiced: bool, store: Store, settings: Settings, tmp_path: Path
) -> None:
    rows = cur2_rows(*({Cur.bill_invoice_id: invoice} for invoice in invoice_ids))
    data_export(tmp_path, "2026-10", [rows], execution="e")
    aws.ingest(store, settings, str(tmp_path))
    [period] = store.state.billing_periods()
    assert (period["period"], bool(period["invoiced"]), period["delivery"]) == (
        "2026-10",
        invoiced,
        "e",
    )


def test_loose_files_without_manifest_are_read(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    write_parquet(cur2_rows({}), tmp_path / "a" / "part-1.parquet")
    write_parquet(cur2_rows(SEPTEMBER), tmp_path / "b" / "part-2.parquet")
    result = aws.ingest(store, settings, str(tmp_path))
    assert result.partitions == [("999999999999", "2026-09"), ("999999999999", "2026-10")]


def test_folder_names_with_glob_characters_are_literal(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "exports [2026] *"
    write_parquet(cur2_rows({}), folder / "part-1.parquet")
    assert aws.ingest(store, settings, str(folder)).rows == 1
