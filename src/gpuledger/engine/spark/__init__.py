"""Attribution on Spark: the local engine's rules run per instance partition on the executors."""
