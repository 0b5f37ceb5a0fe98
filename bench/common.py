"""Benchmark helpers: run one measured variant in a fresh process, read its wall time and peak RSS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
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


def _rss_bytes(pid: int) -> int:
    """Current resident set size of a process (Linux ``/proc``), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _watch(pid: int, limit_bytes: int, done: threading.Event, tripped: threading.Event) -> None:
    """Stop process ``pid`` if it grows past ``limit_bytes``: the machine is shared.

    It only reads ``/proc`` and sends a signal, never waits: the main thread's ``wait4`` must be
    the one that reaps the child, or its resource usage would be lost.
    """
    while not done.wait(0.25):
        if _rss_bytes(pid) > limit_bytes:
            tripped.set()
            os.kill(pid, signal.SIGKILL)
            return


def run_measured(name: str, args: list[str], limit_gib: float = 10.0) -> Measurement:
    """Run ``python -m <args>`` in a fresh process; its last stdout line is a JSON report.

    Peak RSS comes from ``wait4`` on that very child (``ru_maxrss``, KiB on Linux), so earlier
    variants cannot inflate a later one's figure. A child past ``limit_gib`` is stopped (the
    machine is shared) and reported as a :class:`MemoryError`. Wall time is the worker's own measurement of the
    work (``wall_s`` in its report), without interpreter start-up and imports.
    """
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.PIPE, text=True)
    done, tripped = threading.Event(), threading.Event()
    limit = int(limit_gib * GIB)
    watcher = threading.Thread(target=_watch, args=(child.pid, limit, done, tripped))
    watcher.start()
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    watcher.join()
    if tripped.is_set():
        raise MemoryError(
            f"{name} passed {limit_gib} GiB after {time.perf_counter() - started:.0f} s"
        )
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed with exit status {child.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    wall = float(report.get("wall_s", time.perf_counter() - started))
    return Measurement(name, wall, usage.ru_maxrss * 1024, report)


def emit(report: dict[str, Any]) -> None:
    """A worker's last line: its report as JSON."""
    print(json.dumps(report, default=str), flush=True)


def ingest_and_report(source: str, src: str, home: str) -> None:
    """Worker body of the ingest benchmarks: ingest ``src`` with one collector, print the figures.

    Runs in a fresh process, so the peak RSS it reports is this ingest's alone.
    """
    import resource

    from gpuledger.collect import collector
    from gpuledger.config import Settings
    from gpuledger.store.delta import Store

    ingest = collector(source).ingest
    started = time.perf_counter()
    result = ingest(Store(home), Settings(), src)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emit({"rows": result.rows, "seconds": seconds, "peak_mib": peak_kib / 1024})


def run_worker(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module *args`` in a fresh interpreter and return its last line as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
