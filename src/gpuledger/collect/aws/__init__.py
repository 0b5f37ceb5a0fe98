"""AWS billing exports (CUR 2.0, legacy CUR, AWS FOCUS) → ``cost``."""

from gpuledger.collect.aws.collector import ingest

__all__ = ["ingest"]
