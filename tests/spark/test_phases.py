"""The two phases of attribution compose: any partition of the instances gives the same allocation.

The Spark engine runs the first phase (``instance_lines``) once per partition of instances and
the second (``period_allocation``) once on all their lines; the local engine runs both once.
Here the partitions are made in Polars, without a JVM: instances are dealt into ``parts`` groups
by a hash of their id, as Spark deals them, and the stacked lines must give the whole period's
allocation — the same lines, the same money.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.attribution.attribute import attribute, instance_lines
from gpuledger.engine.attribution.period_wide import period_allocation
from gpuledger.schema import Cost, Usage
from tests.engine.attribute_helpers import PERIOD, cost_frame, usage_frame
from tests.engine.test_attribute_properties import FAST, config, fleet

Fleet = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def partitioned(
    cost: pl.LazyFrame, usage: pl.LazyFrame, settings: Settings, parts: int
) -> pl.DataFrame:
    """Both phases with the first run once per partition of the instances."""
    instance = pl.coalesce(Cost.x_ParentResourceId, Cost.ResourceId)
    lines = [
        instance_lines(
            cost.filter((instance.hash(3) % parts).fill_null(0) == part),
            usage.filter((pl.col(Usage.ResourceId).hash(3) % parts).fill_null(0) == part),
            settings,
            PERIOD,
        )
        for part in range(parts)
    ]
    return period_allocation(pl.concat(lines), settings)


@FAST
@given(fleet(), config(), st.integers(2, 4))
def test_partitions_of_instances_give_the_whole_allocation(
    data: Fleet, chosen: Settings, parts: int
) -> None:
    costs, usage = data
    whole = attribute(cost_frame(costs), usage_frame(usage), chosen, PERIOD).collect()
    split = partitioned(cost_frame(costs), usage_frame(usage), chosen, parts)
    assert_frame_equal(split, whole, check_exact=True)
