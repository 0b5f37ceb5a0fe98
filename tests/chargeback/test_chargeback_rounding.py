"""Largest-remainder rounding: rounded parts add up exactly, each within one unit of its amount."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpuledger.engine.chargeback.rounding import largest_remainder, minor_unit, round_money

CENT = Decimal("0.01")


def d(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


@pytest.mark.parametrize(
    ("amounts", "target", "expected"),
    [
        # thirds of a dollar: floors 0.33 ×3 = 0.99, one cent short; the largest remainder gets it
        (d("0.333333", "0.333333", "0.333334"), "1.00", d("0.33", "0.33", "0.34")),
        # equal remainders: the cent goes to the first of them
        (d("0.335", "0.335", "0.33"), "1.00", d("0.34", "0.33", "0.33")),
        # naive rounding gives 0.01 + 0.01 + 0.01 = 0.03 against a rounded total of 0.02
        (d("0.005", "0.005", "0.005"), "0.02", d("0.01", "0.01", "0.00")),
        # negative lines (credits): floors go towards minus infinity, remainders stay positive
        (d("10.004", "-3.337", "-0.005"), "6.66", d("10.00", "-3.34", "0.00")),
        (d("-0.004", "-0.004", "-0.004"), "-0.01", d("0.00", "0.00", "-0.01")),
        # exact amounts are left alone
        (d("1.25", "2.50", "-0.75"), "3.00", d("1.25", "2.50", "-0.75")),
        # a target below the sum of the floors takes units from the smallest remainders
        (d("1.001", "1.009"), "1.99", d("0.99", "1.00")),
        # many tiny lines that round to nothing on their own still carry the total
        ([Decimal("0.0004")] * 100, "0.04", [CENT] * 4 + [Decimal("0.00")] * 96),
    ],
    ids=[
        "thirds",
        "tie-goes-to-the-first",
        "half-cents",
        "negative-lines",
        "all-negative-tiny",
        "already-exact",
        "target-below-floors",
        "hundred-tiny-lines",
    ],
)
def test_largest_remainder_hand_computed(
    amounts: list[Decimal], target: str, expected: list[Decimal]
) -> None:
    assert largest_remainder(amounts, Decimal(target), CENT) == expected


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("USD", "1.005", "1.01"),
        ("USD", "-1.005", "-1.01"),
        ("JPY", "1234.5", "1235"),
        ("KWD", "1.0005", "1.001"),
        ("EUR", "0.004999", "0.00"),
    ],
    ids=["usd-half-up", "usd-negative-half-away", "jpy-no-decimals", "kwd-three", "eur-down"],
)
def test_round_money_uses_the_currency_minor_unit(
    currency: str, amount: str, expected: str
) -> None:
    rounded = round_money(Decimal(amount), currency)
    assert rounded == Decimal(expected)
    assert rounded.as_tuple().exponent == minor_unit(currency).as_tuple().exponent


def test_largest_remainder_refuses_a_target_off_the_unit() -> None:
    with pytest.raises(ValueError, match="not a multiple"):
        largest_remainder(d("1.00"), Decimal("1.005"), CENT)


amounts_strategy = st.lists(
    st.decimals(
        min_value=Decimal("-100000"),
        max_value=Decimal("100000"),
        places=18,
        allow_nan=False,
        allow_infinity=False,
    ),
    min_size=1,
    max_size=60,
)


@given(amounts_strategy)
def test_rounded_parts_sum_to_the_rounded_total(amounts: list[Decimal]) -> None:
    target = round_money(sum(amounts, Decimal(0)), "USD")
    parts = largest_remainder(amounts, target, CENT)
    assert sum(parts, Decimal(0)) == target
    for amount, part in zip(amounts, parts, strict=True):
        assert abs(part - amount) < CENT
        assert part == part.quantize(CENT)


@given(amounts_strategy, st.integers(min_value=-500, max_value=500))
def test_any_target_is_met_exactly(amounts: list[Decimal], cents: int) -> None:
    target = Decimal(cents) * CENT
    assert sum(largest_remainder(amounts, target, CENT), Decimal(0)) == target
