"""Start-up cost of the command line and of the GPU agent: wall time and peak RSS per process.

Each variant runs in a fresh process several times; the table shows the median wall time and the
largest peak RSS. ``agent: first sample`` is the real ``gpuledger agent`` on the pynvml fake
(8 GPUs, one pod each), stopped at its first sample: the cost of reaching work on a GPU host.
The yardsticks are the interpreter alone (the floor) and importing the storage stack (what every
command paid before the CLI imported lazily, and what the agent would pay if it used it).

    .venv/bin/python -m bench.cli_startup [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GPULEDGER = str(Path(sys.executable).with_name("gpuledger"))


def variants(spool: str) -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        ("python -c pass (floor)", [python, "-c", "pass"]),
        ("gpuledger --help", [GPULEDGER, "--help"]),
        ("gpuledger agent --help", [GPULEDGER, "agent", "--help"]),
        ("gpuledger ingest --help", [GPULEDGER, "ingest", "--help"]),
        (
            "agent: first sample",
            [python, "-m", "tests.fakes.agent_host", spool, "--stop-at-first-sample"],
        ),
        ("import the storage stack (yardstick)", [python, "-c", "import gpuledger.store.delta"]),
    ]


def run_once(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run, from the child's own resource usage."""
    started = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _pid, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'variant':<40} {'wall s (median)':>16} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as folder:
        for name, command in variants(str(Path(folder) / "spool")):
            runs = [run_once(command) for _ in range(args.repeat)]
            wall = statistics.median(w for w, _ in runs)
            rss = max(r for _, r in runs)
            print(f"{name:<40} {wall:>16.3f} {rss:>13.1f}", flush=True)


if __name__ == "__main__":
    main()
