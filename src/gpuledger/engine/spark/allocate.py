"""Attribution on Spark: the local engine's first phase per partition of instances, then its second.

The month's cost rows and telemetry buckets are partitioned by instance — a hash of
``coalesce(x_ParentResourceId, ResourceId)`` on cost rows and of ``ResourceId`` on buckets, so an
instance's rows and buckets meet in one partition — and each partition runs
:func:`~gpuledger.engine.attribution.attribute.instance_lines` on an executor, Arrow in and Arrow
out (``cogroup(...).applyInArrow``). The instance lines, about as many as the allocation has lines,
come back to the driver, which runs the period-wide phase
(:func:`~gpuledger.engine.attribution.period_wide.period_allocation`: shared pools weighted by
each team's direct cost, settling, the final lines). One implementation of the rules, two ways to
run it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import Allocator, instance_lines, local_allocation
from gpuledger.engine.attribution.period_wide import INSTANCE_LINES_SCHEMA, period_allocation
from gpuledger.engine.spark.frames import spark_schema, to_arrow, to_polars
from gpuledger.engine.spark.inputs import (
    PARTITION,
    cost_columns,
    partition_count,
    period_inputs,
    usage_columns,
)
from gpuledger.engine.spark.session import spark_session
from gpuledger.schema import COST_SCHEMA, GPU_USAGE_SCHEMA
from gpuledger.store.delta import Store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType


def partition_lines(
    settings: Settings, period: str, result: StructType, cost: pa.Table, usage: pa.Table
) -> pa.Table:
    """On an executor: the instance lines of one partition's cost rows and buckets."""
    lines = instance_lines(
        to_polars(cost, _schema(COST_SCHEMA, cost_columns(settings))).lazy(),
        to_polars(usage, _schema(GPU_USAGE_SCHEMA, usage_columns())).lazy(),
        settings,
        period,
    )
    return to_arrow(lines, result)


def _schema(schema: pl.Schema, columns: list[str]) -> pl.Schema:
    return pl.Schema({name: schema[name] for name in columns})


def spark_allocation(
    store: Store, settings: Settings, period: str, session: SparkSession | None = None
) -> pl.DataFrame:
    """The allocation of ``period``, equal to the local engine's, computed on Spark.

    ``session`` defaults to the environment's SparkSession, else one on ``[engine] spark_master``.
    """
    spark = session or spark_session(settings.engine.spark_master)
    partitions = partition_count(spark, settings)
    cost, usage = period_inputs(spark, store, settings, period, partitions)
    result = spark_schema(INSTANCE_LINES_SCHEMA)
    lines = (
        cost.groupBy(PARTITION)
        .cogroup(usage.groupBy(PARTITION))
        .applyInArrow(partial(partition_lines, settings, period, result), schema=result)
    )
    return period_allocation(to_polars(lines.toArrow(), INSTANCE_LINES_SCHEMA), settings)


def allocator(kind: Literal["local", "spark"]) -> Allocator:
    """The engine ``kind`` names (``[engine] kind`` or ``--engine``): this process, or Spark."""
    return spark_allocation if kind == "spark" else local_allocation
