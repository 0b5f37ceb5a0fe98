"""The sample company's Slurm partition: sacct --json files that ingest into both months."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gpuledger.collect.slurm import ingest
from gpuledger.config import Settings
from gpuledger.sample import sample_months
from gpuledger.sample.company import build_company
from gpuledger.sample.slurm import write_slurm_accounting
from gpuledger.schema import Usage
from gpuledger.store.delta import Store

SETTINGS = Settings.model_validate(
    {"teams": {"nlp": {"aliases": ["nlp-research"]}, "vision": {"aliases": ["cv"]}}}
)


def test_sample_partition_ingests(store: Store, tmp_path: Path) -> None:
    company = build_company(1, 7, sample_months("2026-10"))
    folder = tmp_path / "slurm"
    folder.mkdir()
    files = write_slurm_accounting(company, folder)
    assert [f.name for f in files] == ["sacct-dgx-2026-09.json", "sacct-dgx-2026-10.json"]
    result = ingest(store, SETTINGS, str(folder))
    # dgx-a01: a job a day (30 + 31); dgx-a02: a job each weekday (22 + 22), 8 GPUs each.
    assert result.jobs == 30 + 31 + 22 + 22
    assert result.periods == ["2026-09", "2026-10"]
    hours = (
        store.scan("gpu_usage")
        .group_by(Usage.team)
        .agg((pl.col(Usage.active_seconds).sum() / 3600).round(6).alias("gpu_hours"))
        .sort(Usage.team)
        .collect()
    )
    assert hours.rows() == [("nlp", (30 + 31) * 24 * 8.0), ("vision", (22 + 22) * 10 * 8.0)]
