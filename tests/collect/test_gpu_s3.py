"""An agent spool shipped to S3 (a moto server over HTTP): listed, read, ingested once."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from gpuledger.collect.gpu import collector as gpu
from gpuledger.config import Settings
from gpuledger.schema import Usage
from gpuledger.store.delta import Store
from tests.collect.test_gpu_files import T0, spool, usage
from tests.servers import S3, moto_server, s3

__all__ = ["moto_server", "s3"]

pytestmark = pytest.mark.slow


def test_spool_under_s3_ingests_once(
    s3: S3, store: Store, settings: Settings, tmp_path: Path
) -> None:
    s3.client.create_bucket(Bucket="telemetry")
    local = tmp_path / "spool"
    spool(local, "20261001T000000Z-60s", usage({Usage.pod: "a", Usage.sm_util: 40.0}))
    spool(local, "20261001T000100Z-60s", usage({Usage.bucket_start: T0.replace(minute=1)}))
    s3.upload_tree(local, "telemetry", "gpu/h")
    result = gpu.ingest(store, settings, "s3://telemetry/gpu/")
    first = store.read("gpu_usage").sort(Usage.bucket_start)
    gpu.ingest(store, settings, "s3://telemetry/gpu/")
    assert (result.files, result.rows, result.shipped) == (2, 2, [])
    assert_frame_equal(store.read("gpu_usage").sort(Usage.bucket_start), first)
    assert first[Usage.pod].to_list() == ["a", None]
