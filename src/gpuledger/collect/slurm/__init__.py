"""Slurm accounting (sacct) as GPU allocation telemetry for clusters without the agent."""
