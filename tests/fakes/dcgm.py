"""The fake fleet's script rendered as DCGM-exporter series (and vLLM counters) in OpenMetrics.

``promtool tsdb create-blocks-from openmetrics`` turns the text into TSDB blocks that a real
Prometheus then serves (:func:`serving`). The series follow the exporter's label template (``gpu``, ``UUID``,
``device``, ``modelName``, ``Hostname``; ``GPU_I_PROFILE``/``GPU_I_ID`` on MIG instances;
``namespace``/``pod``/``container`` from its Kubernetes mapping) and its per-process
attribution on shared GPUs: one series per pod with that pod's utilization and memory, and a
series without a pod while no pod is on the GPU. Samples sit mid-interval, off bucket edges.
Several hosts render into one text (:func:`render_fleet`), with kube-state-metrics'
``kube_node_info`` and ``kube_node_annotations`` for the nodes that have them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fakes.nvml import BASE_MEMORY, Activity, FakeGpu, power_watts

MIB = 2**20


@dataclass(frozen=True)
class TokenRate:
    """A vLLM server in a pod: tokens per second while its activity runs."""

    activity: Activity
    model_name: str
    prompt_per_s: float
    generation_per_s: float


@dataclass(frozen=True)
class Host:
    """A GPU host of the fleet: its exporter ``Hostname``, GPUs, the script run on them, and
    extra labels per pod (``team``…) as the exporter's pod-label mapping adds them."""

    name: str
    gpus: Sequence[FakeGpu]
    activities: Sequence[Activity]
    pod_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class KubeNode:
    """A node as kube-state-metrics exports it; ``gce_instance_id`` from GKE's node annotation."""

    name: str
    provider_id: str
    gce_instance_id: str | None = None


Samples = dict[str, dict[str, list[tuple[float, float]]]]


def _labels(values: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(values.items())) + "}"


def _gpu_series(gpus: Sequence[FakeGpu], host: str) -> list[tuple[FakeGpu, dict[str, str]]]:
    """Each accountable GPU (whole, or MIG instance) with its exporter labels."""
    found = []
    for index, gpu in enumerate(gpus):
        base = {
            "gpu": str(index),
            "UUID": gpu.uuid,
            "device": f"nvidia{index}",
            "modelName": gpu.name,
            "Hostname": host,
        }
        if not gpu.mig_children:
            found.append((gpu, base))
        for slot, child in enumerate(gpu.mig_children):
            profile = child.name.rsplit(" ", 1)[-1]
            found.append((child, base | {"GPU_I_PROFILE": profile, "GPU_I_ID": str(slot + 1)}))
    return found


def render_openmetrics(
    gpus: Sequence[FakeGpu],
    activities: Sequence[Activity],
    *,
    host: str,
    epoch: float,
    seconds: float,
    scrape: float = 5.0,
    tokens: Sequence[TokenRate] = (),
) -> str:
    """OpenMetrics text of the exporter's series over ``seconds`` of the script."""
    return render_fleet(
        [Host(host, gpus, activities)], epoch=epoch, seconds=seconds, scrape=scrape, tokens=tokens
    )


def render_fleet(
    hosts: Sequence[Host],
    *,
    nodes: Sequence[KubeNode] = (),
    epoch: float,
    seconds: float,
    scrape: float = 5.0,
    tokens: Sequence[TokenRate] = (),
) -> str:
    """OpenMetrics text of every host's exporter series and each node's kube-state-metrics."""
    samples: Samples = defaultdict(lambda: defaultdict(list))
    for host in hosts:
        _exporter_samples(samples, host, epoch, seconds, scrape, tokens)
    _node_samples(samples, nodes, epoch, seconds, scrape)
    return _text(samples)


def _node_samples(
    samples: Samples, nodes: Sequence[KubeNode], epoch: float, seconds: float, scrape: float
) -> None:
    for tick in range(round(seconds / scrape)):
        at = epoch + (tick + 0.5) * scrape
        for node in nodes:
            info = {"node": node.name, "provider_id": node.provider_id}
            samples["kube_node_info"][_labels(info)].append((at, 1.0))
            if node.gce_instance_id:
                annotation = {
                    "node": node.name,
                    "annotation_container_googleapis_com_instance_id": node.gce_instance_id,
                }
                samples["kube_node_annotations"][_labels(annotation)].append((at, 1.0))


def _exporter_samples(
    samples: Samples,
    host_spec: Host,
    epoch: float,
    seconds: float,
    scrape: float,
    tokens: Sequence[TokenRate],
) -> None:
    host, gpus, activities = host_spec.name, host_spec.gpus, host_spec.activities
    on_host = {gpu.uuid for gpu in gpus} | {gpu.uuid for gpu, _ in _gpu_series(gpus, host)}
    for tick in range(round(seconds / scrape)):
        t = (tick + 0.5) * scrape
        at = epoch + t
        for gpu, labels in _gpu_series(gpus, host):
            root = gpu.parent or gpu
            if root.lost_at is not None and t >= root.lost_at:
                continue
            for extra, util, used in _workload_points(gpu, activities, t):
                pod_labels = host_spec.pod_labels.get(extra.get("pod", ""), {})
                key = _labels(labels | extra | dict(pod_labels))
                samples["DCGM_FI_DEV_FB_USED"][key].append((at, used / MIB))
                samples["DCGM_FI_DEV_FB_FREE"][key].append((at, (gpu.memory_total - used) / MIB))
                if gpu.parent is None:  # utilization and power are not per MIG instance
                    device_util = min(
                        100.0,
                        sum(a.sm for a in activities if a.gpu_uuid == gpu.uuid and a.running(t)),
                    )
                    samples["DCGM_FI_DEV_GPU_UTIL"][key].append((at, util))
                    samples["DCGM_FI_DEV_POWER_USAGE"][key].append((at, power_watts(device_util)))
        for rate in tokens:
            act = rate.activity
            if act.gpu_uuid not in on_host or not act.running(t):
                continue
            key = _labels(
                {
                    "model_name": rate.model_name,
                    "namespace": act.namespace or "",
                    "pod": act.pod or "",
                    "instance": f"{host}:8000",
                }
            )
            elapsed = t - act.start
            samples["vllm:prompt_tokens_total"][key].append((at, rate.prompt_per_s * elapsed))
            samples["vllm:generation_tokens_total"][key].append(
                (at, rate.generation_per_s * elapsed)
            )


def _workload_points(
    gpu: FakeGpu, activities: Sequence[Activity], t: float
) -> list[tuple[dict[str, str], float, int]]:
    running = [a for a in activities if a.gpu_uuid == gpu.uuid and a.running(t)]
    if not running:
        return [({}, 0.0, BASE_MEMORY)]
    pods: dict[tuple[str, str, str], list[Activity]] = defaultdict(list)
    for a in running:
        pods[(a.namespace or "", a.pod or "", a.container or "")].append(a)
    return [
        (
            {"namespace": ns, "pod": pod, "container": ctr},
            min(100.0, sum(a.sm for a in group)),
            sum(a.memory for a in group),
        )
        for (ns, pod, ctr), group in pods.items()
    ]


def _text(samples: Samples) -> str:
    lines = []
    for name in sorted(samples):
        counter = name.endswith("_total")
        family = name.removesuffix("_total") if counter else name
        lines.append(f"# TYPE {family} {'counter' if counter else 'gauge'}")
        for key, points in samples[name].items():
            lines.extend(f"{name}{key} {value} {stamp:.3f}" for stamp, value in points)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@contextmanager
def serving(text: str, root: Path) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 serving ``text`` (OpenMetrics); yields its base URL.

    Skips the test where Debian's ``prometheus`` package (prometheus and promtool) is missing.
    """
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        pytest.skip("prometheus and promtool are not installed (Debian package `prometheus`)")
    (root / "series.om").write_text(text)
    data = root / "data"
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            str(root / "series.om"),
            str(data),
        ],
        check=True,
        capture_output=True,
    )
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    port = _free_port()
    server = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "prometheus.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("prometheus exited at start-up")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("prometheus did not become ready in 60 s")
