"""Attribution's second phase: instance lines of a whole period → its allocation.

The first phase (:func:`gpuledger.engine.attribution.attribute.instance_lines`) runs per instance —
in one process for the local engine, per partition of instances on Spark — and yields two kinds of
*instance lines*: direct allocation lines (rules 2–4, settled) and shared-pool source groups
(rule 1, not yet split, :data:`POOL` set). What needs the whole period happens here, once: the
pools are split over teams by each team's direct cost in the period and currency and settled,
and every line is summed into the allocation's lines, in a total, repeatable order.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.config import Settings
from gpuledger.engine.attribution.keys import row_key
from gpuledger.engine.attribution.money import AMOUNT, COST, PART, settle
from gpuledger.engine.attribution.rules import NATURE
from gpuledger.engine.attribution.shared import (
    POOL,
    SHARE,
    direct_team_costs,
    pool_shares,
    split_pools,
)
from gpuledger.engine.attribution.sums import exact_sum
from gpuledger.schema import ALLOCATION_SCHEMA, ALLOCATION_SOURCE_KEYS, MONEY, UNLABELLED, Alloc

# The allocation columns that describe the source row (everything but the labels and measures).
SOURCE_KEYS: Final = (Alloc.x_BillingPeriod, Alloc.BillingPeriodStart, *ALLOCATION_SOURCE_KEYS)
LABELS: Final = (Alloc.team, Alloc.model, Alloc.workload, Alloc.cost_type, Alloc.rule)
_POOLED_GROUP: Final = (*SOURCE_KEYS, NATURE, POOL)
_ORDER_SEED: Final = 0x6F726465
_LINE: Final = tuple(pl.col(name) for name in (*SOURCE_KEYS, *LABELS))

# The schema of instance lines: the allocation's source keys and labels (null on a pool's source
# group), what a pooled row is and its pool (null on a direct line), its exact cost and GPU-hours.
INSTANCE_LINES_SCHEMA: Final = pl.Schema(
    [
        *((name, ALLOCATION_SCHEMA[name]) for name in (*SOURCE_KEYS, *LABELS)),
        (NATURE, pl.String()),
        (POOL, pl.String()),
        (Alloc.cost, MONEY),
        (Alloc.gpu_hours, pl.Float64()),
    ]
)


def pooled_allocation(
    pooled: pl.LazyFrame, direct: pl.LazyFrame, settings: Settings
) -> pl.LazyFrame:
    """Rule 1: pools' source groups split over teams by their pool's split, settled exactly.

    ``pooled`` has one row per (source keys, nature, pool) with its ``cost`` and ``gpu_hours``;
    ``direct`` the direct allocation lines of the period, which weigh the teams.
    """
    sources = pooled.select(
        *_POOLED_GROUP,
        pl.col(Alloc.cost).alias(AMOUNT),
        pl.col(Alloc.gpu_hours),
    )
    shares = pool_shares(settings, direct_team_costs(direct))
    pieces = split_pools(sources, shares).select(
        *_POOLED_GROUP,
        Alloc.team,
        AMOUNT,
        (pl.col(AMOUNT).cast(pl.Float64) * pl.col(SHARE)).alias(PART),
        (pl.col(Alloc.gpu_hours) * pl.col(SHARE)).alias(Alloc.gpu_hours),
    )
    settled = settle(pieces, _POOLED_GROUP, [Alloc.team])
    return settled.select(
        *SOURCE_KEYS,
        Alloc.team,
        pl.lit(UNLABELLED).alias(Alloc.model),
        pl.lit(None, dtype=pl.String).alias(Alloc.workload),
        pl.lit("shared").alias(Alloc.cost_type),
        pl.concat_str(pl.lit("shared:"), pl.col(POOL)).alias(Alloc.rule),
        pl.col(COST).alias(Alloc.cost),
        Alloc.gpu_hours,
    )


def period_allocation(lines: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """The period's allocation (``ALLOCATION_SCHEMA``) from all of its instance lines.

    Lines that end alike are summed; lines whose cost and GPU-hours are both zero are dropped.
    The order is total and repeatable: by day and resource, then a 64-bit key of the whole line
    (three sort columns instead of seventeen).
    """
    frame = lines.lazy()
    direct = frame.filter(pl.col(POOL).is_null()).select(
        *SOURCE_KEYS, *LABELS, Alloc.cost, Alloc.gpu_hours
    )
    pooled = pooled_allocation(frame.filter(pl.col(POOL).is_not_null()), direct, settings)
    return (
        pl.concat([direct, pooled], how="vertical")
        .group_by([*SOURCE_KEYS, *LABELS])
        .agg(pl.col(Alloc.cost).sum(), exact_sum(pl.col(Alloc.gpu_hours)).alias(Alloc.gpu_hours))
        .filter((pl.col(Alloc.cost) != 0) | (pl.col(Alloc.gpu_hours) != 0))
        .select(pl.col(name).cast(dtype).alias(name) for name, dtype in ALLOCATION_SCHEMA.items())
        .sort(Alloc.day, Alloc.ResourceId, row_key(_LINE, _ORDER_SEED), nulls_last=True)
        .collect(engine="in-memory")
    )
