"""No ingest run is left ``running`` after a failure, whatever raised it and wherever."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from gpuledger.collect.ingest import CostBatch, ingest_cost
from gpuledger.config import Settings
from gpuledger.store.delta import Store
from tests.factories import usage_rows
from tests.foundation.test_ingest import _batch


def _raise(exc: BaseException) -> Callable[..., NoReturn]:
    def fail(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise exc

    return fail


def test_an_unexpected_error_while_reading_fails_the_run(ledger: Store) -> None:
    with pytest.raises(RuntimeError):
        ingest_cost(ledger, "aws", "s3://bucket/export", _raise(RuntimeError("socket closed")))
    [run] = ledger.state.ingest_runs()
    assert (run.status, run.message) == ("failed", "RuntimeError: socket closed")


def test_an_error_writing_the_tables_fails_the_run(
    ledger: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ledger, "replace_partitions", _raise(OSError("Generic S3 error: HTTP not allowed"))
    )
    with pytest.raises(OSError, match="HTTP not allowed"):
        ingest_cost(ledger, "aws", "export.csv", lambda run_id: _batch())
    [run] = ledger.state.ingest_runs()
    assert run.status == "failed"
    assert run.message == "OSError: Generic S3 error: HTTP not allowed"


def test_an_interrupt_fails_the_run(ledger: Store) -> None:
    def interrupted(run_id: str) -> CostBatch:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_cost(ledger, "aws", "export.csv", interrupted)
    assert [run.status for run in ledger.state.ingest_runs()] == ["failed"]


def test_an_unexpected_error_in_a_telemetry_ingest_fails_the_run(
    ledger: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gpuledger.collect import gpu
    from gpuledger.collect.gpu import collector

    rows = usage_rows({})
    rows.write_parquet(tmp_path / "gpu_usage-host-a.parquet")
    monkeypatch.setattr(collector, "replace_buckets", _raise(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        gpu.ingest(ledger, Settings(), str(tmp_path))
    [run] = ledger.state.ingest_runs()
    assert (run.status, run.message) == ("failed", "OSError: disk full")
