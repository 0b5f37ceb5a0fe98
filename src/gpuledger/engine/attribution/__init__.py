"""Attribution: cost + gpu_usage → allocation, every dollar to a team, a model and a workload."""
