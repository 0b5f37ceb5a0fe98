"""Slurm accounting (sacct) as GPU allocation telemetry for clusters without the agent."""

from gpuledger.collect.slurm.collector import SlurmIngestResult, ingest

__all__ = ["SlurmIngestResult", "ingest"]
