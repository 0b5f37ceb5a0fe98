"""The sample company's Slurm accounting: partition ``dgx`` of its on-prem cluster, as sacct writes it.

Sample data, Slurm: the on-prem DGX hosts (:mod:`gpuledger.sample.onprem`) are scheduled by Slurm.
``dgx-a01`` runs one 8-GPU pretraining job a day under account ``nlp-research``; ``dgx-a02`` one
8-GPU training job each weekday from 13:00 to 23:00 UTC under account ``cv`` (both accounts are
team aliases in the sample config). One ``sacct --json`` file per month,
``<out>/sacct-dgx-YYYY-MM.json``, in the slurmdbd job record of Slurm 24.05 (data parser
v0.0.41). The agent reports those hosts from the last month on: there its measurement wins and
the jobs only label it; in the month before, the jobs are the hosts' only telemetry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from gpuledger.period import Period
from gpuledger.sample.company import Company
from gpuledger.sample.onprem import GPU_MODEL, GPUS_PER_HOST

PARTITION: Final = "dgx"
FIRST_JOB_ID: Final = 700_001
# host, Slurm account, user, job name, schedule (always: whole days; office: weekdays 13–23 UTC)
JOBS: Final = (
    ("dgx-a01", "nlp-research", "alice", "llama-pretrain-70b", "always"),
    ("dgx-a02", "cv", "bob", "detector-train", "office"),
)


def write_slurm_accounting(company: Company, out: Path) -> list[Path]:
    """Write one ``sacct --json`` file per sample month under ``out``; return the files."""
    hosts = set(company.onprem_hosts.get_column("host").to_list())
    written = []
    next_id = FIRST_JOB_ID
    for month in company.months:
        jobs = [job for job in _month_jobs(month) if job[0] in hosts]
        records = [_record(next_id + n, *job) for n, job in enumerate(jobs)]
        next_id += len(jobs)
        path = out / f"sacct-{PARTITION}-{month}.json"
        path.write_text(json.dumps(_output(month, records), indent=1) + "\n")
        written.append(path)
    return written


def _month_jobs(month: str) -> list[tuple[str, str, str, str, datetime, datetime]]:
    """(host, account, user, name, start, end) of every job of the month, in start order."""
    start, end = Period.parse(month).bounds()
    jobs = []
    day = start
    while day < end:
        for host, account, user, name, schedule in JOBS:
            if schedule == "always":
                jobs.append((host, account, user, name, day, day + timedelta(days=1)))
            elif day.weekday() < 5:
                begin = day + timedelta(hours=13)
                jobs.append((host, account, user, name, begin, begin + timedelta(hours=10)))
        day += timedelta(days=1)
    return sorted(jobs, key=lambda job: (job[4], job[0]))


def _record(
    job_id: int, host: str, account: str, user: str, name: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """One job as ``sacct --json`` writes it (the fields gpuledger reads, and a few beside)."""
    gpu_type = GPU_MODEL.lower()
    return {
        "account": account,
        "allocation_nodes": 1,
        "cluster": "acme-onprem",
        "job_id": job_id,
        "name": name,
        "nodes": host,
        "partition": PARTITION,
        "qos": "normal",
        "state": {"current": ["COMPLETED"], "reason": "None"},
        "time": {
            "elapsed": int((end - start).total_seconds()),
            "end": int(end.timestamp()),
            "start": int(start.timestamp()),
            "submission": int(start.timestamp()) - 60,
            "suspended": 0,
        },
        "tres": {
            "allocated": [
                {"type": "cpu", "name": "", "id": 1, "count": 224},
                {"type": "mem", "name": "", "id": 2, "count": 2_000_000},
                {"type": "node", "name": "", "id": 4, "count": 1},
                {"type": "gres", "name": "gpu", "id": 1001, "count": GPUS_PER_HOST},
                {"type": "gres", "name": f"gpu:{gpu_type}", "id": 1002, "count": GPUS_PER_HOST},
            ]
        },
        "user": user,
    }


def _output(month: str, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    start, end = Period.parse(month).bounds()
    stamp = "%Y-%m-%dT%H:%M:%S"
    return {
        "meta": {
            "plugin": {"type": "openapi/slurmdbd", "data_parser": "data_parser/v0.0.41"},
            "client": {"source": "sacct"},
            "command": [
                "sacct",
                "--json",
                "-a",
                "-r",
                PARTITION,
                "-S",
                start.astimezone(UTC).strftime(stamp),
                "-E",
                end.astimezone(UTC).strftime(stamp),
            ],
            "slurm": {"release": "24.05.4", "cluster": "acme-onprem"},
        },
        "jobs": jobs,
        "warnings": [],
        "errors": [],
    }
