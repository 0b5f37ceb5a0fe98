"""The GPU host agent: NVML sampling, workload mapping, the bucket spool, metrics. Imports no server stack."""
