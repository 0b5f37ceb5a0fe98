"""The fake fleet's script rendered as DCGM-exporter series (and vLLM counters) in OpenMetrics.

``promtool tsdb create-blocks-from openmetrics`` turns the text into TSDB blocks that a real
Prometheus then serves. The series follow the exporter's label template (``gpu``, ``UUID``,
``device``, ``modelName``, ``Hostname``; ``GPU_I_PROFILE``/``GPU_I_ID`` on MIG instances;
``namespace``/``pod``/``container`` from its Kubernetes mapping) and its per-process
attribution on shared GPUs: one series per pod with that pod's utilization and memory, and a
series without a pod while no pod is on the GPU. Samples sit mid-interval, off bucket edges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tests.fakes.nvml import BASE_MEMORY, Activity, FakeGpu, power_watts

MIB = 2**20


@dataclass(frozen=True)
class TokenRate:
    """A vLLM server in a pod: tokens per second while its activity runs."""

    activity: Activity
    model_name: str
    prompt_per_s: float
    generation_per_s: float


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
    samples: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for tick in range(round(seconds / scrape)):
        t = (tick + 0.5) * scrape
        at = epoch + t
        for gpu, labels in _gpu_series(gpus, host):
            root = gpu.parent or gpu
            if root.lost_at is not None and t >= root.lost_at:
                continue
            for extra, util, used in _workload_points(gpu, activities, t):
                key = _labels(labels | extra)
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
            if not act.running(t):
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
    return _text(samples)


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


def _text(samples: dict[str, dict[str, list[tuple[float, float]]]]) -> str:
    lines = []
    for name in sorted(samples):
        counter = name.endswith("_total")
        family = name.removesuffix("_total") if counter else name
        lines.append(f"# TYPE {family} {'counter' if counter else 'gauge'}")
        for key, points in samples[name].items():
            lines.extend(f"{name}{key} {value} {stamp:.3f}" for stamp, value in points)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
