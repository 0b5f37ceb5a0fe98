"""Order-free float sums: the engines meet partial results in any order and must get the same bits."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from gpuledger.engine.attribution import sums

TERMS = st.lists(st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False), max_size=60)


def total(terms: list[float]) -> float:
    frame = pl.DataFrame({"term": terms}, schema={"term": pl.Float64})
    value: float = frame.select(sums.exact_sum(pl.col("term"))).item()
    return value


@given(st.data(), TERMS)
def test_any_order_gives_the_same_bits(data: st.DataObject, terms: list[float]) -> None:
    reordered = data.draw(st.permutations(terms))
    assert total(reordered) == total(terms)


@given(TERMS)
def test_equals_the_exact_sum_but_for_one_rounding(terms: list[float]) -> None:
    """Each term is rounded to a multiple of 2⁻⁶⁴ and the total once: within a float's rounding
    of the exact sum (``math.fsum``), plus half a 2⁻⁶⁴ step per term."""
    assert math.isclose(
        total(terms), math.fsum(terms), rel_tol=2.0**-52, abs_tol=len(terms) * 2.0**-65
    )
