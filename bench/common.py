"""Benchmark helpers: run one measured variant in a fresh process, read its wall time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

GIB = 1024**3


@dataclass(frozen=True)
class Measurement:
    """One variant's run: wall time inside the worker, its peak RSS, and what it reported."""

    name: str
    wall_s: float
    peak_rss_bytes: int
    report: dict[str, Any]

    @property
    def peak_rss_gib(self) -> float:
        return self.peak_rss_bytes / GIB


def run_measured(name: str, args: list[str]) -> Measurement:
    """Run ``python -m <args>`` in a fresh process; its last stdout line is a JSON report.

    Peak RSS comes from ``wait4`` on that very child (``ru_maxrss``, KiB on Linux), so earlier
    variants cannot inflate a later one's figure. Wall time is the worker's own measurement of the
    work (``wall_s`` in its report), without interpreter start-up and imports.
    """
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed with exit status {child.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    wall = float(report.get("wall_s", time.perf_counter() - started))
    return Measurement(name, wall, usage.ru_maxrss * 1024, report)


def emit(report: dict[str, Any]) -> None:
    """A worker's last line: its report as JSON."""
    print(json.dumps(report, default=str), flush=True)
