"""A GPU host for `gpuledger agent`: the real command line over the pynvml fake (8 H100s, 8 pods).

    python -m tests.fakes.agent_host SPOOL [--stop-at-first-sample]

Prints one JSON line: the peak RSS in MiB and the imported module names, taken at the agent's
first sample (``--stop-at-first-sample``, then the process exits) or after one bucket. Used by
the light-agent test and by ``bench.cli_startup``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from pathlib import Path

from tests.fakes.nvml import GIB, Activity, FakeGpu, FakeNvml, k8s_cgroup, write_proc


def fake_host(proc_root: Path) -> FakeNvml:
    gpus = [
        FakeGpu(f"GPU-{i:08d}-0000-0000-0000-000000000000", "NVIDIA H100 80GB HBM3", 80 * GIB)
        for i in range(8)
    ]
    activities = []
    for slot, gpu in enumerate(gpus):
        pid = 1000 + slot
        write_proc(
            proc_root,
            pid,
            comm="python",
            cgroup=k8s_cgroup(f"{pid:08x}-0000-4000-8000-{slot:012x}", f"{pid:064x}"),
            environ={"HOSTNAME": f"pod-{slot}", "POD_NAMESPACE": "ml", "GPULEDGER_TEAM": "nlp"},
        )
        activities.append(Activity(gpu.uuid, pid, 0.0, 1e9, sm=40, memory=8 * GIB))
    return FakeNvml(gpus, activities)


def report() -> None:
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak_mib, "modules": sorted(sys.modules)}), flush=True)


def main(argv: list[str]) -> None:
    spool = argv[0]
    stop_at_first_sample = "--stop-at-first-sample" in argv
    from gpuledger import cli
    from gpuledger.agent import sampler

    if stop_at_first_sample:

        def first_sample(self: sampler.Agent, now: object) -> None:
            report()
            os._exit(0)

        sampler.Agent.sample = first_sample  # type: ignore[method-assign,assignment]
    with tempfile.TemporaryDirectory() as proc:
        proc_root = Path(proc)
        fake = fake_host(proc_root)
        config = proc_root / "gpuledger.toml"
        config.write_text(f'[agent]\nproc_root = "{proc_root}"\n')
        with fake.installed():
            sys.argv = [
                "gpuledger",
                "--config",
                str(config),
                "agent",
                "--spool",
                spool,
                "--once",
                "--interval",
                "0.2",
                "--bucket",
                "1",
                "--resource-id",
                "i-0fake",
            ]
            try:
                cli.main()
            except SystemExit as stop:
                if stop.code:
                    raise
    report()


if __name__ == "__main__":
    main(sys.argv[1:])
