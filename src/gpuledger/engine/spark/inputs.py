"""The Spark engine's inputs: a month's cost rows and telemetry, partitioned by instance.

An instance's rows must meet in one partition — the rules read an instance's cost rows and its
telemetry together — so both sides are partitioned by a 64-bit hash of the instance id:
``coalesce(x_ParentResourceId, ResourceId)`` on cost rows (a split line's instance is its parent),
``ResourceId`` on buckets. Only the columns the rules may read travel: lineage, raw provider
fields and the power and memory readings stay behind. A rule that starts reading one of those
fails on Spark with a missing column, loudly, until it is taken off these lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from gpuledger.config import Settings
from gpuledger.engine.spark.tables import read_table
from gpuledger.period import Period
from gpuledger.schema import COST_SCHEMA, GPU_USAGE_SCHEMA, Cost, Usage
from gpuledger.store.delta import Store

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

PARTITION: Final = "_instance_partition"

UNREAD_COST: Final = (
    Cost.ChargeDescription,
    Cost.x_CreditType,
    Cost.x_CurrencyConversionRate,
    Cost.x_IngestId,
    Cost.x_InvoiceId,
    Cost.x_LineItemId,
    Cost.x_ProviderColumns,
    Cost.x_SourceFile,
    Cost.x_SourceRow,
)
UNREAD_USAGE: Final = (
    Usage.container,
    Usage.host,
    Usage.mem_total_bytes,
    Usage.mem_used_bytes,
    Usage.parent_gpu_uuid,
    Usage.power_w,
    Usage.samples,
    Usage.util_method,
    Usage.x_BillingPeriod,
)


def cost_columns(settings: Settings) -> list[str]:
    """The cost columns the rules may read: all but :data:`UNREAD_COST`, save regex fields."""
    unread = set(UNREAD_COST) - {rule.field for rule in settings.rules.regex}
    return [name for name in COST_SCHEMA if name not in unread]


def usage_columns() -> list[str]:
    """The telemetry columns the rules may read: all but :data:`UNREAD_USAGE`."""
    return [name for name in GPU_USAGE_SCHEMA if name not in UNREAD_USAGE]


def partition_count(session: SparkSession, settings: Settings) -> int:
    """``[engine] spark_partitions``, else the cluster's default parallelism (its cores), else
    (Spark Connect, which has no SparkContext) its shuffle partitions."""
    if settings.engine.spark_partitions is not None:
        return settings.engine.spark_partitions
    try:
        return int(session.sparkContext.defaultParallelism)
    except NotImplementedError:
        return int(session.conf.get("spark.sql.shuffle.partitions") or 200)


def instance_partition(instance: Column, partitions: int) -> Column:
    """The partition of an instance id: its 64-bit hash modulo ``partitions`` (null ids in one)."""
    from pyspark.sql import functions as f

    return f.pmod(f.xxhash64(instance), f.lit(partitions))


def period_inputs(
    session: SparkSession, store: Store, settings: Settings, period: str, partitions: int
) -> tuple[DataFrame, DataFrame]:
    """The period's cost rows and telemetry buckets, each with its instance's :data:`PARTITION`.

    Buckets are those the local engine reads: starting inside the month, with an instance id;
    files whose ``bucket_start`` statistics lie outside the month are not read at all.
    """
    from pyspark.sql import functions as f

    start, end = Period.parse(period).bounds()
    cost = read_table(session, store, "cost", [(Cost.x_BillingPeriod, "=", period)])
    in_month = [(Usage.bucket_start, ">=", start), (Usage.bucket_start, "<", end)]
    usage = read_table(session, store, "gpu_usage", in_month).filter(
        (f.col(Usage.bucket_start) >= f.lit(start))
        & (f.col(Usage.bucket_start) < f.lit(end))
        & f.col(Usage.ResourceId).isNotNull()
    )
    instance = f.coalesce(f.col(Cost.x_ParentResourceId), f.col(Cost.ResourceId))
    return (
        cost.select(*cost_columns(settings)).withColumn(
            PARTITION, instance_partition(instance, partitions)
        ),
        usage.select(*usage_columns()).withColumn(
            PARTITION, instance_partition(f.col(Usage.ResourceId), partitions)
        ),
    )
