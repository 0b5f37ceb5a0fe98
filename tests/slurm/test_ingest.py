"""`ingest slurm`: sacct jobs become allocation rows per node, bucket, GPU and job."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from gpuledger.collect.slurm import ingest
from gpuledger.collect.slurm.allocation import allocation_rows
from gpuledger.collect.slurm.sacct import SlurmJob
from gpuledger.config import Settings, TeamConfig, TelemetryConfig
from gpuledger.errors import InputError
from gpuledger.schema import GPU_USAGE_SCHEMA, Usage
from gpuledger.store.delta import Store

FIXTURES = Path(__file__).parent / "fixtures"
SETTINGS = Settings(
    teams={"nlp": TeamConfig(slurm_accounts=["NLP-Research"])},
    telemetry=TelemetryConfig(hosts={"dgx03": "dgx03.rack2"}),
)


def _at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 5, 4, hour, minute, second, tzinfo=UTC)


def _job(**fields: object) -> SlurmJob:
    base: dict[str, object] = {
        "job_id": "1",
        "account": "vision",
        "user": "bob",
        "partition": "gpu",
        "hosts": ("n1",),
        "start": _at(10, 2),
        "end": _at(10, 11, 30),
        "gpus": 1,
    }
    return SlurmJob(**{**base, **fields})  # type: ignore[arg-type]


def test_buckets_hold_the_allocated_seconds() -> None:
    rows = allocation_rows([_job()], SETTINGS)
    assert rows.schema == GPU_USAGE_SCHEMA
    assert rows.select(Usage.bucket_start, Usage.active_seconds).rows() == [
        (_at(10, 0), 180.0),
        (_at(10, 5), 300.0),
        (_at(10, 10), 90.0),
    ]
    first = rows.row(0, named=True)
    assert (first[Usage.job], first[Usage.team], first[Usage.sm_util]) == ("1", "vision", None)
    assert (first[Usage.util_method], first[Usage.source]) == ("slurm-allocation", "slurm")
    assert (first[Usage.x_BillingPeriod], first[Usage.bucket_seconds]) == ("2026-05", 300)


def test_gpus_spread_evenly_over_nodes() -> None:
    rows = allocation_rows([_job(hosts=("n1", "n2"), gpus=3, end=_at(10, 4))], SETTINGS)
    assert rows.select(Usage.host, Usage.gpu_index, Usage.gpu_uuid).rows() == [
        ("n1", 0, "slurm:n1/0"),
        ("n1", 1, "slurm:n1/1"),
        ("n2", 0, "slurm:n2/0"),
    ]


def test_gres_detail_names_the_indexes() -> None:
    job = _job(hosts=("n1",), gpus=2, gpu_indexes=((4, 6),), end=_at(10, 4))
    assert allocation_rows([job], SETTINGS)[Usage.gpu_index].to_list() == [4, 6]


def test_team_from_slurm_accounts_and_resource_from_telemetry_hosts() -> None:
    jobs = [
        _job(job_id="1", account="nlp-research", hosts=("dgx01",), end=_at(10, 4)),
        _job(job_id="2", account="Computer Vision", hosts=("dgx03",), end=_at(10, 4)),
    ]
    rows = allocation_rows(jobs, SETTINGS)
    assert rows.select(Usage.job, Usage.team, Usage.host, Usage.ResourceId).rows() == [
        ("1", "nlp", "dgx01", "dgx01"),  # no mapping: the host is the resource
        ("2", "computer-vision", "dgx03", "dgx03.rack2"),
    ]


@pytest.mark.parametrize("name", ["sacct.json", "sacct.parsable2"])
def test_ingest_stores_and_replaces(name: str, store: Store) -> None:
    src = str(FIXTURES / name)
    result = ingest(store, SETTINGS, src)
    # 4242: 8 GPUs (4 per node) × 10 buckets; 4243: 2 GPUs × 2 buckets (10:15–10:25)
    assert (result.jobs, result.rows, result.gpus, result.hosts) == (2, 84, 10, 3)
    assert result.unfinished == 1
    assert "1 job(s) not started or not ended yet" in result.summary()
    ingest(store, SETTINGS, src)  # the same output again: one copy
    stored = store.scan("gpu_usage").collect()
    assert stored.height == 84
    assert stored[Usage.active_seconds].sum() == pytest.approx(8 * 3000 + 2 * 420)
    assert set(stored[Usage.team]) == {"nlp", "vision"}


def test_bad_input_leaves_the_store_unchanged(store: Store, tmp_path: Path) -> None:
    ingest(store, SETTINGS, str(FIXTURES / "sacct.json"))
    before = store.scan("gpu_usage").collect()
    bad = tmp_path / "bad.json"
    shutil.copy(FIXTURES / "sacct.json", bad)
    bad.write_text(bad.read_text().replace('"nodes": "dgx03"', '"nodes": "dgx[03"'))
    with pytest.raises(InputError, match=r"bad\.json, column 'nodes': job 4243"):
        ingest(store, SETTINGS, str(bad))
    after = store.scan("gpu_usage").collect()
    assert after.sort(pl.all()).equals(before.sort(pl.all()))


def test_reads_standard_input(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    data = (FIXTURES / "sacct.parsable2").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    result = ingest(store, SETTINGS, "-")
    assert result.rows == 84
    assert "from standard input" in result.summary()


def test_folder_counts_a_job_listed_twice_once(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "sacct"
    folder.mkdir()
    for name in ("sacct.json", "sacct.parsable2"):  # the same jobs in both formats
        shutil.copy(FIXTURES / name, folder / name)
    result = ingest(store, SETTINGS, str(folder))
    assert (result.jobs, result.rows, result.unfinished) == (2, 84, 2)
