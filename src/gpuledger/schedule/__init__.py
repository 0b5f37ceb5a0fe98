"""The scheduler: APScheduler jobs, their run lock and the job bodies."""
