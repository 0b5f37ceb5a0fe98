"""Any FOCUS 1.x export (Azure, OCI, …) → ``cost``."""

from gpuledger.collect.focus.collector import ingest

__all__ = ["ingest"]
