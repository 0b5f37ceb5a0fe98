"""The spool: atomic bucket files, a size bound that prunes shipped files first and never silently."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gpuledger.agent.nvml import NvmlBackend
from gpuledger.agent.sampler import Agent, AgentOptions
from gpuledger.agent.spool import Spool, shipped_marker, spool_file_name
from gpuledger.agent.workload import WorkloadResolver

ROWS = [{"x": i} for i in range(2000)]


def fill(spool: Spool, count: int) -> list[Path]:
    paths = []
    for minute in range(count):
        start = datetime(2026, 10, 1, 0, minute, tzinfo=UTC)
        path = spool.write(ROWS, spool_file_name("h", start, 60))
        os.utime(path, (minute, minute))  # oldest first, whatever the file system's clock says
        paths.append(path)
    return paths


def test_write_is_atomic_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path, max_bytes=10**9)

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        spool.write(ROWS, "gpu_usage-h-20261001T000000Z-60s.csv")
    assert [p.name for p in tmp_path.iterdir()] == [".gpuledger-spool"]


@pytest.mark.parametrize(
    ("shipped", "bound_files", "left", "dropped"),
    [
        ({0, 1, 2}, 3, {3, 4, 5}, 0),
        ({4}, 5, {0, 1, 2, 3, 5}, 0),
        ({1}, 3, {3, 4, 5}, 2),
        (set(), 6, {0, 1, 2, 3, 4, 5}, 0),
    ],
    ids=[
        "shipped-oldest-go",
        "shipped-go-first-even-if-newer",
        "then-unshipped-loudly",
        "under-bound",
    ],
)
def test_prune_order(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    shipped: set[int],
    bound_files: int,
    left: set[int],
    dropped: int,
) -> None:
    spool = Spool(tmp_path, max_bytes=10**9)
    paths = fill(spool, 6)
    for index in shipped:
        shipped_marker(paths[index]).touch()
    spool.max_bytes = paths[0].stat().st_size * bound_files
    with caplog.at_level(logging.ERROR, logger="gpuledger.agent"):
        result = spool.prune()
    assert {paths.index(p) for p in spool.files()} == left
    assert result.unshipped_removed == dropped
    assert len([r for r in caplog.records if "deleted unshipped" in r.message]) == dropped
    markers = {m.name for m in tmp_path.glob(".*.shipped")}
    assert markers == {shipped_marker(paths[i]).name for i in shipped & left}  # none orphaned


def test_agent_counts_a_failed_write_and_keeps_sampling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = Agent(
        NvmlBackend(),
        WorkloadResolver(proc_root=tmp_path),
        AgentOptions(spool=tmp_path / "spool", host="h", resource_id=None, bucket_seconds=60),
    )

    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    agent._write(datetime(2026, 10, 1, tzinfo=UTC), [{"x": 1}], partial=False)
    assert agent.metrics.registry.get_sample_value("gpuledger_agent_spool_write_errors_total") == 1
    assert agent.written == []
