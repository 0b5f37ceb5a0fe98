"""GPU telemetry (agent spools, files, DCGM via Prometheus) → ``gpu_usage``."""

from gpuledger.collect.gpu.collector import ingest

__all__ = ["ingest"]
