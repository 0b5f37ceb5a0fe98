"""Agent: Prometheus metrics of what it sees, for dashboards and for watching the agent itself.

Per GPU and per workload utilization and memory (the latest sample), samples taken, NVML errors
by GPU and kind, GPUs marked lost, spool size and bucket files deleted unshipped. Each agent
has its own registry, so tests and several agents in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from gpuledger.agent.buckets import Share
from gpuledger.agent.nvml import GpuDevice, GpuReading

_GPU = ("gpu_uuid", "gpu_index", "gpu_model", "mig_profile")
_WORKLOAD = ("gpu_uuid", "namespace", "pod", "container", "job", "command", "team", "model")


class AgentMetrics:
    """The agent's metric families, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.gpu_util = Gauge(
            "gpuledger_gpu_sm_util_percent", "GPU utilization", _GPU, registry=reg
        )
        self.gpu_memory = Gauge(
            "gpuledger_gpu_memory_used_bytes", "GPU memory in use", _GPU, registry=reg
        )
        self.gpu_power = Gauge("gpuledger_gpu_power_watts", "GPU power draw", _GPU, registry=reg)
        self.gpu_lost = Gauge(
            "gpuledger_gpu_faulted",
            "1 while the GPU fails its queries",
            ("gpu_uuid",),
            registry=reg,
        )
        self.workload_util = Gauge(
            "gpuledger_workload_sm_util_percent", "Workload share of SM", _WORKLOAD, registry=reg
        )
        self.workload_memory = Gauge(
            "gpuledger_workload_memory_used_bytes", "Workload GPU memory", _WORKLOAD, registry=reg
        )
        self.samples = Counter("gpuledger_agent_samples", "GPU samples taken", registry=reg)
        self.nvml_errors = Counter(
            "gpuledger_agent_nvml_errors", "NVML query errors", ("gpu_uuid", "error"), registry=reg
        )
        self.spool_bytes = Gauge("gpuledger_agent_spool_bytes", "Spool size", registry=reg)
        self.spool_dropped = Counter(
            "gpuledger_agent_spool_dropped_files",
            "Bucket files deleted before they were shipped",
            registry=reg,
        )
        self.buckets_written = Counter(
            "gpuledger_agent_buckets_written", "Bucket files written", registry=reg
        )
        self.spool_write_errors = Counter(
            "gpuledger_agent_spool_write_errors",
            "Bucket files that could not be written",
            registry=reg,
        )

    def serve(self, port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 - scraped remotely
        start_http_server(port, addr=address, registry=self.registry)

    def begin_tick(self) -> None:
        """Workloads come and go: forget last tick's workload series before setting this one's."""
        self.workload_util.clear()
        self.workload_memory.clear()

    def observe(self, device: GpuDevice, reading: GpuReading, shares: list[Share]) -> None:
        gpu = (device.uuid, str(device.index), device.model, device.mig_profile or "")
        self.samples.inc()
        self.gpu_lost.labels(device.uuid).set(0)
        self.gpu_memory.labels(*gpu).set(reading.memory_used)
        if reading.sm_util is not None:
            self.gpu_util.labels(*gpu).set(reading.sm_util)
        if reading.power_w is not None:
            self.gpu_power.labels(*gpu).set(reading.power_w)
        for share in shares:
            w = share.workload
            if w is None:
                continue
            labels = (
                device.uuid,
                w.namespace,
                w.pod,
                w.container,
                w.job,
                w.pid_command,
                w.team,
                w.model,
            )
            text = tuple(value or "" for value in labels)
            self.workload_memory.labels(*text).set(share.memory_bytes)
            if share.sm_util is not None:
                self.workload_util.labels(*text).set(share.sm_util)

    def fault(self, uuid: str, error: str) -> None:
        self.nvml_errors.labels(uuid, error).inc()
        self.gpu_lost.labels(uuid).set(1)
