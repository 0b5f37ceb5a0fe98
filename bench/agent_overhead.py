"""CPU cost of the GPU agent: 8 GPUs x 30 processes sampled every second, through the NVML fake.

Runs the real agent (NVML seam, /proc workload mapping, bucket aggregation, CSV spool,
Prometheus metrics) over ten simulated minutes against the scripted pynvml fake, with processes
coming and going, and prints the CPU time per tick as a share of one core at a 1 s interval.
The fake's own bookkeeping is included, so the figure is an upper bound for the agent.

    .venv/bin/python -m bench.agent_overhead [--minutes 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gpuledger.agent.nvml import NvmlBackend
from gpuledger.agent.sampler import Agent, AgentOptions
from gpuledger.agent.workload import WorkloadResolver
from tests.fakes.nvml import GIB, Activity, FakeGpu, FakeNvml, k8s_cgroup, write_proc

GPUS = 8
PROCESSES = 30
START = datetime(2026, 10, 1, tzinfo=UTC)


def fleet(seconds: int, proc_root: Path) -> FakeNvml:
    """8 H100s; 30 pods' processes spread over them, one replaced by a new PID every minute."""
    gpus = [
        FakeGpu(f"GPU-{i:08d}-0000-0000-0000-000000000000", "NVIDIA H100 80GB HBM3", 80 * GIB)
        for i in range(GPUS)
    ]
    activities = []
    pid = 1000
    for slot in range(PROCESSES):
        begin = 0.0
        while begin < seconds:
            end = begin + 60.0 * (1 + (slot + pid) % 7)  # lifetimes of one to seven minutes
            uid = f"{pid:08x}-0000-4000-8000-{slot:012x}"
            write_proc(
                proc_root,
                pid,
                comm="python",
                cgroup=k8s_cgroup(uid, f"{pid:064x}"),
                environ={
                    "HOSTNAME": f"pod-{slot}",
                    "POD_NAMESPACE": "bench",
                    "GPULEDGER_TEAM": "t",
                },
            )
            activities.append(
                Activity(gpus[slot % GPUS].uuid, pid, begin, end, sm=10 + slot % 50, memory=2 * GIB)
            )
            pid += 1
            begin = end
    return FakeNvml(gpus, activities)


def measure(minutes: int) -> tuple[float, float, int, int]:
    """CPU seconds per tick (agent, and NVML reads alone), ticks, and bucket files written."""
    seconds = minutes * 60
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fake = fleet(seconds, root / "proc")
        agent = Agent(
            NvmlBackend(),
            WorkloadResolver(proc_root=root / "proc"),
            AgentOptions(spool=root / "spool", host="bench", resource_id="i-0bench"),
        )
        with fake.installed():
            agent.start()
            began = time.process_time()
            for tick in range(seconds):
                fake.now = tick + 0.5
                agent.sample(START + timedelta(seconds=fake.now))
            spent = time.process_time() - began
            began = time.process_time()
            for tick in range(seconds):  # the same reads without the agent: the fake's own share
                fake.now = tick + 0.5
                for device in agent.devices:
                    agent.backend.read(device)
            fake_only = time.process_time() - began
        return spent / seconds, fake_only / seconds, seconds, len(agent.written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    args = parser.parse_args()
    per_tick, reads, ticks, files = measure(args.minutes)
    print(
        f"agent overhead: {GPUS} GPUs x {PROCESSES} processes, {ticks} ticks, {files} bucket files"
    )
    print(
        f"  CPU per tick: {per_tick * 1000:.2f} ms (of which NVML reads through the fake {reads * 1000:.2f} ms)"
    )
    print(f"  at a 1 s interval: {per_tick * 100:.2f} % of one core, fake included")


if __name__ == "__main__":
    main()
