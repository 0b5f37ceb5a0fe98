"""Attribution on Spark: the local engine's rules run per instance partition on the executors.

pyspark is an optional dependency (the ``spark`` extra); it is imported only when a session is
needed, so this package imports without it.
"""

from gpuledger.engine.spark.allocate import allocator, spark_allocation
from gpuledger.engine.spark.session import MISSING_PYSPARK, spark_session

__all__ = ["MISSING_PYSPARK", "allocator", "spark_allocation", "spark_session"]
