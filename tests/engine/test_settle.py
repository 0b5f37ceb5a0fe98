"""Settling float shares into Decimal parts: exact sums, clean nano-units, never a flipped sign."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuledger.engine.attribution.money import AMOUNT, COST, PART, settle
from gpuledger.schema import MONEY

NANO = Decimal("1e-9")


def settled(amount: Decimal, shares: list[float]) -> list[Decimal]:
    """``amount`` split by ``shares`` (one group, pieces in order) and settled."""
    pieces = pl.DataFrame(
        {
            "group": ["g"] * len(shares),
            "piece": list(range(len(shares))),
            PART: [float(amount) * share for share in shares],
            AMOUNT: [amount] * len(shares),
        },
        schema_overrides={AMOUNT: MONEY},
    )
    result = settle(pieces.lazy(), ["group"], ["piece"]).collect().sort("piece")
    return result.get_column(COST).to_list()


def test_whole_parts_read_cleanly() -> None:
    assert settled(Decimal(14), [6 / 14, 6 / 14, 2 / 14]) == [Decimal(6), Decimal(6), Decimal(2)]


def test_a_tiny_amount_is_not_split_into_parts_of_the_wrong_sign() -> None:
    # Rounded to the nearest nano-unit, four quarters of 2.391e-9 are 1e-9 each: 4e-9 in all,
    # and the difference would push the largest part below zero.
    for amount in (Decimal("2.391e-9"), Decimal("-2.391e-9")):
        parts = settled(amount, [0.25] * 4)
        assert sum(parts) == amount
        assert all(part * amount >= 0 for part in parts)


AMOUNTS = st.decimals(min_value=-(10**9), max_value=10**9, places=18, allow_nan=False)
TINY = st.integers(-(10**5), 10**5).map(lambda picos: picos * Decimal("1e-12"))  # ±100 nano
WEIGHTS = st.one_of(
    st.lists(st.integers(0, 1000), min_size=1, max_size=30),
    st.integers(1, 30).map(lambda n: [1] * n),  # equal parts all round the same way
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(AMOUNTS, TINY), WEIGHTS)
def test_parts_add_up_keep_the_sign_and_stay_near_their_share(
    amount: Decimal, weights: list[int]
) -> None:
    total = sum(weights) or 1
    shares = (
        [weight / total for weight in weights]
        if sum(weights)
        else [1 / len(weights)] * len(weights)
    )
    parts = settled(amount, shares)
    assert sum(parts) == amount
    assert all(part * amount >= 0 for part in parts)
    slack = (len(parts) + 1) * NANO + abs(amount) * Decimal("1e-12")
    for part, share in zip(parts, shares, strict=True):
        assert abs(part - amount * Decimal(share)) <= slack
