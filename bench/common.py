"""Benchmark helpers: run one measured variant in a fresh process, read its wall time and peak RSS.

Peak RSS is the child's own: ``VmHWM`` read by the child itself after its work (see
:func:`run_measured`). ``ru_maxrss`` would not do: Linux carries a process's peak across
``fork`` and ``exec``, so a child started by a benchmark that holds gigabytes (a generated fleet,
a built company) would report the parent's memory as its own.

``python -m bench.common PEAK_FILE MODULE ARGS…`` is that launcher: it runs ``python -m MODULE
ARGS…`` in this interpreter and writes its ``VmHWM`` in bytes to ``PEAK_FILE`` when it ends.
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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

    It only reads ``/proc`` and sends a signal; the main thread reaps the child.
    """
    while not done.wait(0.25):
        if _rss_bytes(pid) > limit_bytes:
            tripped.set()
            os.kill(pid, signal.SIGKILL)
            return


def own_peak_bytes() -> int:
    """This process's peak RSS since its ``exec`` (``VmHWM``), without its parent's memory."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run_measured(name: str, args: list[str], limit_gib: float = 10.0) -> Measurement:
    """Run ``python -m <args>`` in a fresh process; its last stdout line is a JSON report.

    The child runs under this module's launcher, which records the child's own peak RSS
    (``VmHWM``) when it ends, so neither this process nor an earlier variant inflates the
    figure. A child past ``limit_gib`` is stopped (the machine is shared) and reported as a
    :class:`MemoryError`. Wall time is the worker's own measurement of the work (``wall_s`` in
    its report), without interpreter start-up and imports.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-peak-") as folder:
        peak_file = Path(folder) / "peak"
        command = [sys.executable, "-m", "bench.common", str(peak_file), *args]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        done, tripped = threading.Event(), threading.Event()
        limit = int(limit_gib * GIB)
        watcher = threading.Thread(target=_watch, args=(child.pid, limit, done, tripped))
        watcher.start()
        assert child.stdout is not None
        output = child.stdout.read()
        child.wait()
        done.set()
        watcher.join()
        if tripped.is_set():
            raise MemoryError(
                f"{name} passed {limit_gib} GiB after {time.perf_counter() - started:.0f} s"
            )
        if child.returncode != 0:
            raise RuntimeError(f"{name} failed with exit status {child.returncode}")
        peak = int(peak_file.read_text(encoding="ascii"))
    report = json.loads(output.strip().splitlines()[-1])
    wall = float(report.get("wall_s", time.perf_counter() - started))
    return Measurement(name, wall, peak, report)


def _launch(peak_file: str, module: str, args: list[str]) -> None:
    """Run ``module`` as ``__main__`` with ``args``, then write this process's peak RSS."""
    sys.argv = [module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        Path(peak_file).write_text(str(own_peak_bytes()), encoding="ascii")


def emit(report: dict[str, Any]) -> None:
    """A worker's last line: its report as JSON."""
    print(json.dumps(report, default=str), flush=True)


WRITERS = ("files", "delta-rs")  # the store's own file writer; delta-rs's writer, the yardstick
STREAM_ROWS = 250_000


def ingest_and_report(source: str, src: str, home: str, writer: str = "files") -> None:
    """Worker body of the ingest benchmarks: ingest ``src`` with one collector, print the figures.

    Runs in a fresh process; the peak RSS it reports is this process's own (``VmHWM``).
    ``writer="delta-rs"`` stores the rows as the store did before it wrote its own files: one
    predicate overwrite through delta-rs's partitioned writer.
    """
    from gpuledger.collect import collector
    from gpuledger.config import Settings
    from gpuledger.store.delta import Store

    if writer == "delta-rs":
        Store.replace_partitions = replace_through_delta_rs  # type: ignore[method-assign,assignment]
    ingest = collector(source).ingest
    started, cpu = time.perf_counter(), cpu_seconds()
    result = ingest(Store(home), Settings(), src)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    emit(
        {
            "rows": result.rows,
            "quarantined": getattr(result, "quarantined", 0),  # lines refused by a bill's checks
            "seconds": seconds,
            "cpu_s": cpu,
            "peak_mib": own_peak_bytes() / 2**20,
        }
    )


def replace_through_delta_rs(
    store: Any,
    table: str,
    frame: Any,
    keys: Sequence[str],
    *,
    replace: Sequence[Mapping[str, str]] | None = None,
) -> int:
    """The yardstick replace: ``write_deltalake`` overwriting the keys' rows, chunks streamed in."""
    import polars as pl

    rows = frame.lazy()
    found = rows.select(keys).unique().collect(engine="streaming").to_dicts()
    combos = found + [dict(combo) for combo in replace or []]
    predicate = " OR ".join(
        "(" + " AND ".join(f"{key} = '{combo[key]}'" for key in keys) + ")" for combo in combos
    )
    total = rows.select(pl.len()).collect(engine="streaming").item()
    chunks = (
        rows.slice(offset, STREAM_ROWS).collect(engine="streaming")
        for offset in range(0, total, STREAM_ROWS)
    )
    version: int = store.replace_where(table, chunks, predicate)
    return version


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its threads so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_worker(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module *args`` in a fresh interpreter and return its last line as JSON."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, check=True
    )
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


if __name__ == "__main__":
    _launch(sys.argv[1], sys.argv[2], sys.argv[3:])
