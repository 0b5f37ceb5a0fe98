"""The Prometheus/DCGM path against a real Prometheus, and its agreement with the agent's spool.

The fixture renders one scripted Kubernetes fleet as DCGM-exporter series, fills a TSDB with
``promtool tsdb create-blocks-from openmetrics``, and serves it with a real ``prometheus`` on
127.0.0.1. The same script drives the agent over the pynvml fake (with a kubelet ``/pods``
served on 127.0.0.1), so both paths must produce the same gpu_usage rows up to sampling error.
"""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from gpuledger.agent.nvml import NvmlBackend
from gpuledger.agent.sampler import Agent, AgentOptions
from gpuledger.agent.workload import KubeletPods, WorkloadResolver
from gpuledger.collect.gpu import collector as gpu
from gpuledger.config import Settings
from gpuledger.schema import MODEL_TOKENS_SCHEMA, Tokens, Usage
from gpuledger.store.delta import Store
from tests.fakes.dcgm import TokenRate, render_openmetrics, serving
from tests.fakes.nvml import GIB, Activity, FakeGpu, FakeNvml, drive, k8s_cgroup, write_proc

pytestmark = pytest.mark.slow

START = datetime(2026, 10, 1, tzinfo=UTC)
SECONDS = 180
BUCKET = 60


def script() -> tuple[list[FakeGpu], list[Activity]]:
    """Time-sliced pods on an H100, a pod on a MIG instance, an idle L4, an L4 lost at 130 s."""
    h100 = FakeGpu("GPU-h100", "NVIDIA H100 80GB HBM3", 80 * GIB)
    a100 = FakeGpu("GPU-a100", "NVIDIA A100-SXM4-80GB", 80 * GIB)
    mig = a100.mig("MIG-a100-3g", "3g.40gb", 40 * GIB)
    a100.mig("MIG-a100-1g", "1g.10gb", 10 * GIB)
    idle = FakeGpu("GPU-idle", "NVIDIA L4", 24 * GIB)
    lost = FakeGpu("GPU-lost", "NVIDIA L4", 24 * GIB, lost_at=130.0)
    activities = [
        Activity(h100.uuid, 101, 0, 150, 40, 10 * GIB, "nlp", "trainer-0", "trainer"),
        Activity(h100.uuid, 102, 30, 90, 30, 20 * GIB, "search", "serve-1", "vllm"),
        Activity(mig.uuid, 301, 20, 180, 50, 30 * GIB, "search", "ranker-2", "ranker"),
    ]
    return [h100, a100, idle, lost], activities


SERVE_TOKENS = TokenRate(script()[1][1], "llm-7b", prompt_per_s=100, generation_per_s=50)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 serving the script's DCGM series."""
    gpus, activities = script()
    text = render_openmetrics(
        gpus,
        activities,
        host="gpu-1",
        epoch=START.timestamp(),
        seconds=SECONDS,
        tokens=[SERVE_TOKENS],
    )
    with serving(text, tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def ingest_prometheus(store: Store, url: str) -> gpu.GpuIngestResult:
    return gpu.ingest(
        store,
        Settings(),
        f"prometheus+{url}",
        start=START.isoformat(),
        end=(START + timedelta(seconds=SECONDS)).isoformat(),
        bucket_seconds=BUCKET,
    )


# -- the agent side, with a kubelet -----------------------------------------------------------


def pod_uid(pod: str) -> str:
    digits = f"{zlib.crc32(pod.encode()):012d}"
    return f"00000000-0000-4000-8000-{digits}"


class _Kubelet(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kubelet() -> Iterator[str]:
    _gpus, activities = script()
    items = [
        {
            "metadata": {
                "name": a.pod,
                "namespace": a.namespace,
                "uid": pod_uid(str(a.pod)),
                "labels": {},
            },
            "status": {
                "containerStatuses": [
                    {"name": a.container, "containerID": f"containerd://{a.pid:064x}"}
                ]
            },
        }
        for a in activities
    ]
    handler = type(
        "Kubelet", (_Kubelet,), {"body": json.dumps({"kind": "PodList", "items": items}).encode()}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def agent_rows(tmp_path: Path, kubelet_url: str) -> pl.DataFrame:
    gpus, activities = script()
    for a in activities:
        write_proc(
            tmp_path / "proc",
            a.pid,
            comm=str(a.container),
            cgroup=k8s_cgroup(pod_uid(str(a.pod)), f"{a.pid:064x}"),
        )
    fake = FakeNvml(gpus, activities)
    resolver = WorkloadResolver(proc_root=tmp_path / "proc", pods=KubeletPods(kubelet_url))
    agent = Agent(
        NvmlBackend(),
        resolver,
        AgentOptions(
            spool=tmp_path / "spool", host="gpu-1", resource_id="i-0abc", bucket_seconds=BUCKET
        ),
    )
    with fake.installed():
        agent.start()
        drive(
            agent, fake, seconds=SECONDS + 1, start=START
        )  # one tick past the end closes the last bucket
    store = Store(tmp_path / "agent-home")
    gpu.ingest(store, Settings(), str(tmp_path / "spool"))
    return store.read("gpu_usage").filter(
        pl.col(Usage.bucket_start) < START + timedelta(seconds=SECONDS)
    )


COMPARED = [
    Usage.bucket_start,
    Usage.host,
    "gpu",
    Usage.gpu_index,
    Usage.gpu_model,
    Usage.mig_profile,
    Usage.parent_gpu_uuid,
    Usage.namespace,
    Usage.pod,
    Usage.container,
    Usage.active_seconds,
    Usage.sm_util,
    Usage.mem_used_bytes,
    Usage.mem_total_bytes,
    Usage.power_w,
    Usage.util_method,
]


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows keyed by what both paths know: a MIG instance by its parent and profile."""
    gpu_key = (
        pl.when(pl.col(Usage.mig_profile).is_null())
        .then(pl.col(Usage.gpu_uuid))
        .otherwise(pl.format("{}:{}", Usage.parent_gpu_uuid, Usage.mig_profile))
    )
    return (
        frame.with_columns(gpu_key.alias("gpu"))
        .select(COMPARED)
        .sort(Usage.bucket_start, "gpu", Usage.pod, nulls_last=True)
    )


# -- tests ----------------------------------------------------------------------------------


def test_agent_and_prometheus_agree(prometheus: str, kubelet: str, tmp_path: Path) -> None:
    from_agent = comparable(agent_rows(tmp_path, kubelet))
    store = Store(tmp_path / "dcgm-home")
    ingest_prometheus(store, prometheus)
    from_dcgm = comparable(store.read("gpu_usage"))
    # per bucket: 5 GPUs, plus a second pod on the H100 (0-90 s) or its idle tail (150-180 s),
    # plus the MIG instance idle before its pod starts at 20 s
    assert from_agent.height == (5 + 1 + 1) + (5 + 1) + (5 + 1)
    assert_frame_equal(from_dcgm, from_agent, check_exact=False, abs_tol=1e-6, check_dtypes=True)


def test_vllm_tokens_land_in_model_tokens(prometheus: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    result = ingest_prometheus(store, prometheus)
    assert result.tokens == 2
    got = (
        store.read("model_tokens")
        .sort(Tokens.bucket_start)
        .select(
            Tokens.bucket_start,
            Tokens.host,
            Tokens.namespace,
            Tokens.pod,
            Tokens.model,
            Tokens.prompt_tokens,
            Tokens.generation_tokens,
        )
    )
    # serve-1 runs 30-90 s at 100 prompt / 50 generated tokens a second: 30 s in each bucket
    expected = pl.DataFrame(
        {
            Tokens.bucket_start: [START, START + timedelta(seconds=60)],
            Tokens.host: ["gpu-1"] * 2,
            Tokens.namespace: ["search"] * 2,
            Tokens.pod: ["serve-1"] * 2,
            Tokens.model: ["llm-7b"] * 2,
            Tokens.prompt_tokens: [3000, 3000],
            Tokens.generation_tokens: [1500, 1500],
        },
        schema={k: MODEL_TOKENS_SCHEMA[k] for k in got.columns},
    )
    assert_frame_equal(got, expected)


def test_prometheus_ingest_is_idempotent(prometheus: str, tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    first = ingest_prometheus(store, prometheus)
    once = store.read("gpu_usage").sort(Usage.bucket_start, Usage.gpu_uuid, Usage.pod)
    ingest_prometheus(store, prometheus)
    twice = store.read("gpu_usage").sort(Usage.bucket_start, Usage.gpu_uuid, Usage.pod)
    assert first.rows == once.height == 19
    assert_frame_equal(twice, once)
    assert store.read("model_tokens").height == 2
