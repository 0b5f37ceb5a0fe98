"""GCP billing export (files, GCS, BigQuery) → ``cost``."""

from gpuledger.collect.gcp.collector import ingest

__all__ = ["ingest"]
