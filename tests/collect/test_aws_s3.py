"""AWS exports read from S3 over HTTP (a moto server): listing, manifests, re-delivery, refusal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.aws import collector as aws
from gpuledger.collect.aws.columns import Cur
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.collect.aws_export import cur2_rows, data_export, legacy_report
from tests.servers import S3, moto_server, s3

__all__ = ["moto_server", "s3"]

pytestmark = pytest.mark.slow

BUCKET = "billing"


def total(store: Store) -> tuple[int, Decimal]:
    cost = store.read("cost")
    return cost.height, cost.get_column(Cost.EffectiveCost).sum()


def test_multi_file_data_export_from_s3(
    s3: S3, store: Store, settings: Settings, tmp_path: Path
) -> None:
    s3.client.create_bucket(Bucket=BUCKET)
    files = [cur2_rows({}, {}), cur2_rows({Cur.line_item_unblended_cost: 0.5})]
    data_export(tmp_path, "2026-10", files, execution="exec-7")
    s3.upload_tree(tmp_path, BUCKET, "exports")
    result = aws.ingest(store, settings, f"s3://{BUCKET}/exports")
    assert (result.rows, result.partitions) == (3, [("999999999999", "2026-10")])
    assert total(store) == (3, Decimal("110.58"))
    sources = store.read("cost").get_column(Cost.x_SourceFile).unique().sort().to_list()
    assert sources == [
        f"s3://{BUCKET}/exports/cur/data/BILLING_PERIOD=2026-10/cur-00001.snappy.parquet",
        f"s3://{BUCKET}/exports/cur/data/BILLING_PERIOD=2026-10/cur-00002.snappy.parquet",
    ]
    assert store.state.delivery_of("aws", "999999999999", "2026-10") == "exec-7"


def test_legacy_redelivery_on_s3_replaces_the_older_assembly(
    s3: S3, store: Store, settings: Settings, tmp_path: Path
) -> None:
    s3.client.create_bucket(Bucket=BUCKET)
    period = ("20261001", "20261101")
    legacy_report(tmp_path / "v1", period, "asm-1", [cur2_rows({}, {})])
    s3.upload_tree(tmp_path / "v1", BUCKET, "legacy")
    aws.ingest(store, settings, f"s3://{BUCKET}/legacy")
    assert total(store) == (2, Decimal("110.08"))
    restated = cur2_rows({}, {}, {Cur.line_item_unblended_cost: 4.25})
    legacy_report(tmp_path / "v2", period, "asm-2", [restated])
    s3.upload_tree(tmp_path / "v2", BUCKET, "legacy")  # new assembly, manifest overwritten
    assert any("/asm-1/" in key for key in s3.keys(BUCKET))
    aws.ingest(store, settings, f"s3://{BUCKET}/legacy")
    assert total(store) == (3, Decimal("114.33"))
    assert store.state.delivery_of("aws", "999999999999", "2026-10") == "asm-2"


def test_delivery_with_a_missing_file_is_refused_on_s3(
    s3: S3, store: Store, settings: Settings, tmp_path: Path
) -> None:
    s3.client.create_bucket(Bucket=BUCKET)
    data_export(tmp_path / "ok", "2026-10", [cur2_rows({})], execution="ok")
    s3.upload_tree(tmp_path / "ok", BUCKET, "good")
    aws.ingest(store, settings, f"s3://{BUCKET}/good")
    before = store.read("cost")
    data_export(tmp_path / "bad", "2026-10", [cur2_rows({}), cur2_rows({})], execution="bad")
    s3.upload_tree(tmp_path / "bad", BUCKET, "bad")
    missing = "bad/cur/data/BILLING_PERIOD=2026-10/cur-00002.snappy.parquet"
    s3.client.delete_object(Bucket=BUCKET, Key=missing)
    with pytest.raises(InputError) as raised:
        aws.ingest(store, settings, f"s3://{BUCKET}/bad")
    assert f"s3://{BUCKET}/{missing}" in str(raised.value)
    assert_frame_equal(store.read("cost"), before)


def test_listing_without_billing_files_is_an_input_error(
    s3: S3, store: Store, settings: Settings
) -> None:
    s3.client.create_bucket(Bucket=BUCKET)
    s3.client.put_object(Bucket=BUCKET, Key="empty/readme.txt", Body=b"nothing here")
    with pytest.raises(InputError, match="no AWS billing files found"):
        aws.ingest(store, settings, f"s3://{BUCKET}/empty")
    assert store.read("cost").is_empty()
