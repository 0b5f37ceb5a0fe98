"""The engine groups by 64-bit keys; a key shared by different rows must cost time, never money.

Real collisions are a 1 in 2^64 event, so these tests force them: the key under the grouping
seed is replaced by a constant (every row collides) while the check key stays real, and the
allocation must come out exactly as without the collision. The seeds chosen for instance and
label keys must likewise move past a seed under which distinct values would share a key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from polars.testing import assert_frame_equal

from gpuledger.config import Settings
from gpuledger.engine.attribution import attribute as attribute_module
from gpuledger.engine.attribution import gpu_weights, keys
from gpuledger.engine.attribution.gpu_weights import reduce_usage
from gpuledger.period import Period
from gpuledger.schema import Alloc
from tests.engine.attribute_helpers import PERIOD, allocate, usage_frame
from tests.engine.test_attribute_properties import FAST, config, fleet

Fleet = tuple[list[dict[str, Any]], list[dict[str, Any]]]
KeyFunction = Callable[[Sequence[pl.Expr], int], pl.Expr]


def colliding_under(*seeds: int) -> KeyFunction:
    """``row_key``, except that every row gets the same key under ``seeds``."""

    def key(columns: Sequence[pl.Expr], seed: int) -> pl.Expr:
        if seed in seeds:
            return pl.lit(7, dtype=pl.UInt64)
        return keys.row_key(columns, seed)

    return key


def ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(pl.all(), nulls_last=True)


def assert_same_allocation(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    """Same lines and, line by line, the same money up to a nano-unit.

    Float shares are summed in whatever order the group-bys run, so a part can land on the other
    side of a nano-unit rounding; each group still adds up exactly (pinned elsewhere).
    """
    labels = [name for name in expected.columns if name not in (Alloc.cost, Alloc.gpu_hours)]
    assert_frame_equal(actual.select(labels), expected.select(labels))
    drift = (actual.get_column(Alloc.cost) - expected.get_column(Alloc.cost)).abs()
    assert drift.max() is None or drift.max() <= Decimal("1e-8")
    assert_frame_equal(
        actual.select(Alloc.gpu_hours), expected.select(Alloc.gpu_hours), check_exact=False
    )


@FAST
@given(fleet())
def test_colliding_workload_keys_change_no_weight(data: Fleet) -> None:
    _, usage = data
    start, end = Period.parse(PERIOD).bounds()
    honest = reduce_usage(usage_frame(usage), start, end)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gpu_weights, "row_key", colliding_under(gpu_weights._KEY_SEED))
        collided = reduce_usage(usage_frame(usage), start, end)
    assert_frame_equal(ordered(collided), ordered(honest), check_exact=False)


@FAST
@given(fleet(), config())
def test_colliding_source_keys_change_no_allocation(data: Fleet, chosen: Settings) -> None:
    costs, usage = data
    honest = allocate(costs, usage, chosen)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attribute_module, "row_key", colliding_under(attribute_module._GROUP_SEED))
        collided = allocate(costs, usage, chosen)
    assert_same_allocation(collided, honest)


@FAST
@given(fleet(), config())
def test_key_seeds_move_past_collisions(data: Fleet, chosen: Settings) -> None:
    """Instance and label keys that would collide under their first seed take the next one."""
    costs, usage = data
    honest = allocate(costs, usage, chosen)
    with pytest.MonkeyPatch.context() as patch:
        first_seeds = (gpu_weights._RESOURCE_SEED, gpu_weights._LABELS_SEED)
        patch.setattr(gpu_weights, "row_key", colliding_under(*first_seeds))
        moved = allocate(costs, usage, chosen)
    assert_same_allocation(moved, honest)


def test_row_key_tells_apart_what_a_naive_key_would_not() -> None:
    frame = pl.DataFrame(
        {"a": ["x", "y", "", None, "ab", "a"], "b": ["y", "x", None, "", "c", "bc"]}
    )
    columns = [pl.col("a"), pl.col("b")]
    key = frame.select(keys.row_key(columns, 1)).to_series()
    assert key.n_unique() == frame.height  # order, null vs empty, and split points all count
    again = pl.concat([frame, frame]).select(keys.row_key(columns, 1)).to_series()
    assert again.head(frame.height).to_list() == again.tail(frame.height).to_list()
    other_seed = frame.select(keys.row_key(columns, 2)).to_series()
    assert (key != other_seed).all()
