"""Where the agent also ran, its measurement wins over Slurm's allocation and takes the job's labels."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.attribution.gpu_weights import prefer_measured
from gpuledger.schema import Usage
from tests.engine.attribute_helpers import (
    START,
    allocate,
    by_label,
    cost,
    expected,
    tags,
    usage_frame,
)

SETTINGS = Settings.model_validate({"teams": {"nlp": {}, "vision": {}}})


def _rows(host: str, gpu: int, **fields: Any) -> list[dict[str, Any]]:
    """An hour of 5-minute buckets on one GPU of ``host`` (its own ResourceId)."""
    return [
        {
            "bucket_start": START + timedelta(minutes=5 * i),
            "bucket_seconds": 300,
            "host": host,
            "ResourceId": host,
            "gpu_index": gpu,
            "samples": 0,
            **fields,
        }
        for i in range(12)
    ]


def _slurm(host: str, gpu: int, job: str, team: str) -> list[dict[str, Any]]:
    return _rows(
        host,
        gpu,
        gpu_uuid=f"slurm:{host}/{gpu}",
        job=job,
        team=team,
        active_seconds=300.0,
        util_method="slurm-allocation",
        source="slurm",
    )


def _agent(host: str, gpu: int, command: str | None) -> list[dict[str, Any]]:
    return _rows(
        host,
        gpu,
        gpu_uuid=f"GPU-{host}-{gpu}",
        pid_command=command,
        active_seconds=300.0 if command else 0.0,
        sm_util=80.0 if command else 0.0,
        samples=300,
        source="agent",
    )


def test_agent_activity_wins_and_job_labels_enrich_it() -> None:
    costs = [
        cost(ResourceId=host, EffectiveCost=Decimal(12), x_GpuCount=2, Tags=tags(team="vision"))
        for host in ("dgx01", "dgx02")
    ]
    usage = (
        _slurm("dgx01", 0, "4242", "nlp")
        + _slurm("dgx01", 1, "4242", "nlp")
        + _agent("dgx01", 0, "python train.py")  # the job's process: measured, labels from Slurm
        + _agent("dgx01", 1, None)  # held by the job but idle: stays idle
        + _slurm("dgx02", 0, "4243", "nlp")  # no agent on dgx02: the allocation counts
    )
    got = by_label(allocate(costs, usage, SETTINGS))
    want = expected(
        ("nlp", "(unlabelled)", "4242", "usage", "telemetry", "6"),
        ("nlp", "(unlabelled)", "4243", "usage", "telemetry", "6"),
        ("vision", "(idle)", None, "idle", "idle:owner", "12"),
    )
    assert_frame_equal(got, want)
    assert got["cost"].sum() == Decimal(24)  # conserved


def test_finer_agent_buckets_meet_the_allocation_and_unbilled_rows_stay() -> None:
    minute_bucket = {
        **_agent("dgx01", 0, "python")[0],
        "bucket_start": START + timedelta(minutes=2),
        "bucket_seconds": 60,
    }
    unbilled = {**_agent("lab-box", 0, "python")[0], "ResourceId": None}
    usage = usage_frame([_slurm("dgx01", 0, "4242", "nlp")[0], minute_bucket, unbilled])
    got = prefer_measured(usage, START, START + timedelta(hours=1)).collect()
    assert got.select("host", "source", "job", "team").sort("host").rows() == [
        ("dgx01", "agent", "4242", "nlp"),  # the 10:02 minute meets the 10:00–10:05 allocation
        ("lab-box", "agent", None, None),
    ]


def test_an_alert_counts_a_gpu_that_slurm_and_the_agent_report_once(tmp_path: Path) -> None:
    """The alerts' telemetry line reads GPUs as attribution does: measured rows win."""
    from gpuledger.engine.alerts.explain import Detail
    from gpuledger.store.delta import Store

    store = Store(tmp_path / "home")
    usage = (
        _slurm("dgx01", 0, "4242", "nlp")
        + _slurm("dgx01", 1, "4242", "nlp")
        + _agent("dgx01", 0, "python train.py")
        + _agent("dgx01", 1, None)
    )
    rows = usage_frame(usage).collect().with_columns(pl.lit("2026-10").alias(Usage.x_BillingPeriod))
    store.replace_partitions("gpu_usage", rows, [Usage.source, Usage.x_BillingPeriod])
    day = START.date()

    seen = Detail(store, pl.DataFrame(), "USD").telemetry(["dgx01"], day, day)["dgx01"]

    assert seen.gpus == 2
    assert seen.sm == 40.0  # one GPU at 80 % and one idle, not diluted by the allocation rows
