"""The agent over a scripted fleet: shares, MIG, processes coming and going, a GPU lost mid-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.agent.nvml import NvmlBackend, NvmlUnavailable
from gpuledger.agent.sampler import Agent, AgentOptions
from gpuledger.agent.workload import WorkloadResolver
from gpuledger.schema import GPU_USAGE_SCHEMA, UNLABELLED, Usage
from tests.agent.spool_files import read_spool_file
from tests.fakes.nvml import (
    BASE_MEMORY,
    GIB,
    Activity,
    FakeGpu,
    FakeNvml,
    drive,
    k8s_cgroup,
    write_proc,
)

START = datetime(2026, 10, 1, tzinfo=UTC)
POD_A, POD_B = "5f1b7c2e-1111-4a2b-9c3d-0123456789ab", "6a2c8d3f-2222-4b3c-8d4e-123456789abc"
CTR_A, CTR_B, CTR_D = "a" * 64, "b" * 64, "d" * 64


def fleet() -> tuple[list[FakeGpu], list[Activity]]:
    """Five GPUs: time-sliced, memory-shared, MIG, idle, and one that falls off the bus at 30 s."""
    h100 = FakeGpu("GPU-h100", "NVIDIA H100 80GB HBM3", 80 * GIB)
    a10g = FakeGpu("GPU-a10g", "NVIDIA A10G", 24 * GIB, per_process_util=False, mig_capable=False)
    a100 = FakeGpu("GPU-a100", "NVIDIA A100-SXM4-80GB", 80 * GIB)
    mig_a = a100.mig("MIG-a100-3g", "3g.40gb", 40 * GIB)
    a100.mig("MIG-a100-1g", "1g.10gb", 10 * GIB)
    idle = FakeGpu("GPU-idle", "NVIDIA L4", 24 * GIB)
    lost = FakeGpu("GPU-lost", "NVIDIA L4", 24 * GIB, lost_at=30.0)
    activities = [
        Activity(h100.uuid, 101, 0, 120, sm=40, memory=10 * GIB),
        Activity(h100.uuid, 102, 30, 90, sm=30, memory=20 * GIB),
        Activity(a10g.uuid, 201, 0, 120, sm=20, memory=6 * GIB),
        Activity(a10g.uuid, 202, 0, 120, sm=20, memory=2 * GIB),
        Activity(mig_a.uuid, 301, 0, 120, sm=50, memory=30 * GIB),
    ]
    return [h100, a10g, a100, idle, lost], activities


def proc_tree(root: Path) -> None:
    write_proc(
        root,
        101,
        comm="python",
        cgroup=k8s_cgroup(POD_A, CTR_A, shape="containerd-v2"),
        environ={"HOSTNAME": "trainer-0", "POD_NAMESPACE": "nlp", "GPULEDGER_MODEL": "llm-7b"},
    )
    write_proc(
        root,
        102,
        comm="vllm",
        cgroup=k8s_cgroup(POD_B, CTR_B, shape="crio-v2"),
        environ={"HOSTNAME": "serve-1", "POD_NAMESPACE": "search"},
    )
    write_proc(
        root, 201, comm="train.py", environ={"SLURM_JOB_ID": "4242", "SLURM_JOB_ACCOUNT": "vision"}
    )
    # 202 has no /proc entry (exited, or hidden): still counted, as unlabelled
    write_proc(
        root,
        301,
        comm="ranker",
        cgroup=f"0::/system.slice/docker-{CTR_D}.scope\n",
        environ={"GPULEDGER_TEAM": "search", "GPULEDGER_MODEL": "ranker-v3"},
    )


@pytest.fixture
def spooled(tmp_path: Path) -> tuple[Agent, pl.DataFrame]:
    gpus, activities = fleet()
    fake = FakeNvml(gpus, activities)
    proc_tree(tmp_path / "proc")
    agent = Agent(
        NvmlBackend(),
        WorkloadResolver(proc_root=tmp_path / "proc"),
        AgentOptions(
            spool=tmp_path / "spool", host="gpu-1", resource_id="i-0abc", bucket_seconds=60
        ),
    )
    with fake.installed():
        agent.start()
        drive(agent, fake, seconds=120, start=START)
        agent.flush()  # as on SIGTERM: the open bucket is written too
    frames = [read_spool_file(p) for p in agent.written]
    return agent, pl.concat(frames)


def row(bucket: int, uuid: str, index: int, gpu_model: str, **values: object) -> dict[str, object]:
    base: dict[str, object] = dict.fromkeys(GPU_USAGE_SCHEMA.names())
    base.update(
        {
            Usage.bucket_start: START + timedelta(seconds=60 * bucket),
            Usage.bucket_seconds: 60,
            Usage.host: "gpu-1",
            Usage.ResourceId: "i-0abc",
            Usage.gpu_uuid: uuid,
            Usage.gpu_index: index,
            Usage.gpu_model: gpu_model,
            Usage.source: "agent",
            Usage.x_BillingPeriod: "2026-10",
            Usage.active_seconds: 60.0,
            Usage.samples: 60,
            Usage.util_method: "device",
        }
    )
    base.update(values)
    return base


def expected_rows() -> pl.DataFrame:
    """Hand-computed: see the fleet's script and the splitting rules of agent_buckets."""
    h100, a10g, a100 = "NVIDIA H100 80GB HBM3", "NVIDIA A10G", "NVIDIA A100-SXM4-80GB"
    pod_a = {
        Usage.namespace: "nlp",
        Usage.pod: "trainer-0",
        Usage.container: CTR_A[:12],
        Usage.pid_command: "python",
        Usage.model: "llm-7b",
    }
    pod_b = {
        Usage.namespace: "search",
        Usage.pod: "serve-1",
        Usage.container: CTR_B[:12],
        Usage.pid_command: "vllm",
    }
    slurm = {Usage.job: "4242", Usage.pid_command: "train.py", Usage.team: "vision"}
    unknown = {Usage.pid_command: "pid 202", Usage.team: UNLABELLED}
    ranker = {
        Usage.container: CTR_D[:12],
        Usage.pid_command: "ranker",
        Usage.team: "search",
        Usage.model: "ranker-v3",
    }
    mig = {
        Usage.parent_gpu_uuid: "GPU-a100",
        Usage.mig_profile: "3g.40gb",
        Usage.mem_total_bytes: 40 * GIB,
    }
    mig1 = {
        Usage.parent_gpu_uuid: "GPU-a100",
        Usage.mig_profile: "1g.10gb",
        Usage.mem_total_bytes: 10 * GIB,
    }
    l4 = {
        Usage.mem_total_bytes: 24 * GIB,
        Usage.sm_util: 0.0,
        Usage.mem_used_bytes: BASE_MEMORY,
        Usage.power_w: 60.0,
    }
    rows = []
    for b in (0, 1):
        # pod A alone for 30 s of each bucket at 40 % (180 W), with pod B for the other 30 s (270 W)
        rows.append(
            row(
                b,
                "GPU-h100",
                0,
                h100,
                **pod_a,
                sm_util=40.0,
                mem_used_bytes=10 * GIB,
                mem_total_bytes=80 * GIB,
                power_w=225.0,
                util_method="process",
            )
        )
        rows.append(
            row(
                b,
                "GPU-h100",
                0,
                h100,
                **pod_b,
                sm_util=30.0,
                mem_used_bytes=20 * GIB,
                mem_total_bytes=80 * GIB,
                power_w=270.0,
                util_method="process",
                active_seconds=30.0,
                samples=30,
            )
        )
        # 40 % device util split 6:2 by memory
        rows.append(
            row(
                b,
                "GPU-a10g",
                1,
                a10g,
                **slurm,
                sm_util=30.0,
                mem_used_bytes=6 * GIB,
                mem_total_bytes=24 * GIB,
                power_w=180.0,
                util_method="memory_share",
            )
        )
        rows.append(
            row(
                b,
                "GPU-a10g",
                1,
                a10g,
                **unknown,
                sm_util=10.0,
                mem_used_bytes=2 * GIB,
                mem_total_bytes=24 * GIB,
                power_w=180.0,
                util_method="memory_share",
            )
        )
        rows.append(row(b, "MIG-a100-3g", 2, a100, **ranker, **mig, mem_used_bytes=30 * GIB))
        rows.append(row(b, "MIG-a100-1g", 2, a100, **mig1, mem_used_bytes=BASE_MEMORY))
        rows.append(row(b, "GPU-idle", 3, "NVIDIA L4", **l4))
    rows.append(row(0, "GPU-lost", 4, "NVIDIA L4", **l4, active_seconds=30.0, samples=30))
    return pl.DataFrame(rows, schema=GPU_USAGE_SCHEMA)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(Usage.bucket_start, Usage.gpu_uuid, Usage.pid_command, nulls_last=True)


def test_spool_rows_match_the_script(spooled: tuple[Agent, pl.DataFrame]) -> None:
    _agent, got = spooled
    assert_frame_equal(_sorted(got), _sorted(expected_rows()), check_exact=False, abs_tol=1e-9)


def test_each_closed_bucket_is_one_file(spooled: tuple[Agent, pl.DataFrame]) -> None:
    agent, _rows = spooled
    closed, flushed = (p.name for p in agent.written)
    assert closed == "gpu_usage-gpu-1-20261001T000000Z-60s.csv"
    # a flushed open bucket gets a name of its own, so a restarted agent cannot overwrite it
    assert flushed.startswith("gpu_usage-gpu-1-20261001T000100Z-60s-partial")
    assert agent.aggregator.open_buckets() == 0
    assert not list(agent.spool.folder.glob(".*.tmp"))  # no temporary file left behind


def test_lost_gpu_is_marked_and_the_others_keep_going(spooled: tuple[Agent, pl.DataFrame]) -> None:
    agent, got = spooled
    assert agent.faulted == {"GPU-lost"}
    errors = agent.metrics.registry.get_sample_value(
        "gpuledger_agent_nvml_errors_total", {"gpu_uuid": "GPU-lost", "error": "GpuIsLost"}
    )
    assert errors == 90  # 120 ticks, lost from tick 30 on
    assert got.filter(pl.col(Usage.bucket_start) == START + timedelta(minutes=1)).height == 7


def test_no_driver_is_one_clear_error() -> None:
    fake = FakeNvml([], driver=False)
    with fake.installed(), pytest.raises(NvmlUnavailable, match="NVML is not available"):
        NvmlBackend().open()


def test_no_gpu_is_one_clear_error() -> None:
    fake = FakeNvml([])
    with fake.installed(), pytest.raises(NvmlUnavailable, match="no NVIDIA GPU"):
        NvmlBackend().open()
    assert fake.initialized == 0


def test_gpu_lost_before_start_is_skipped_with_a_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeNvml(
        [
            FakeGpu("GPU-ok", "NVIDIA L4", 24 * GIB),
            FakeGpu("GPU-gone", "NVIDIA L4", 24 * GIB, lost_at=0),
        ]
    )
    agent = Agent(
        NvmlBackend(),
        WorkloadResolver(proc_root=tmp_path),
        AgentOptions(spool=tmp_path / "spool", host="h", resource_id=None, bucket_seconds=60),
    )
    with fake.installed():
        agent.start()
    assert [d.uuid for d in agent.devices] == ["GPU-ok"]
    assert "GPU 1 cannot be described" in caplog.text
