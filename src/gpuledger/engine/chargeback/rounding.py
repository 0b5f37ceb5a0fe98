"""Money rounding for statements: exact amounts → amounts in a currency's minor unit that add up.

Statements show cents, but the engine's amounts carry 18 decimal places. Rounding every line on
its own would let the rounded lines drift a cent or two away from the rounded total, and finance
would rightly refuse a statement whose lines do not add up to its total. So amounts are rounded
top-down with the largest-remainder method (see :func:`largest_remainder`): the invoice total is
rounded once, the team totals are fitted to it, and each team's lines to its team total.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final

# ISO 4217 minor units for the currencies that do not use two decimal places.
_MINOR_UNITS: Final = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}

# Enough digits for Decimal(38, 18) sums and their products with exchange rates; Python's default
# context (28 digits) would round silently.
MONEY_CONTEXT: Final = decimal.Context(prec=80, rounding=ROUND_HALF_UP)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (0.01 for USD, 1 for JPY, 0.001 for KWD)."""
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency.upper(), 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded to the currency's minor unit, halves away from zero."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT)


def largest_remainder(amounts: Sequence[Decimal], target: Decimal, unit: Decimal) -> list[Decimal]:
    """Round ``amounts`` to multiples of ``unit`` so that they sum to exactly ``target``.

    The rule (largest-remainder, also called Hamilton's method):

    1. Round every amount *down* (towards minus infinity) to a multiple of ``unit``; what was cut
       off is its remainder, always in [0, unit), also for negative amounts.
    2. The shortfall ``target - sum(rounded down)`` is a whole number ``k`` of units.
    3. Give one unit each to the ``k`` amounts with the largest remainders; ties go to the amount
       that comes first in ``amounts``, so the result is deterministic. If ``k`` is negative
       (the target is below the sum of the floors), take one unit each from the ``-k`` amounts
       with the smallest remainders. If ``|k|`` exceeds the number of amounts, every amount first
       moves by ``k // n`` units and the rest follows the rule above.

    When ``target`` is the sum of ``amounts`` rounded to ``unit``, every result is within one unit
    of its amount and ``k`` lies in [0, n). ``target`` must be a multiple of ``unit``.
    """
    if not amounts:
        if target:
            raise ValueError(f"cannot spread {target} over no amounts")
        return []
    with decimal.localcontext(MONEY_CONTEXT):
        floors = [a.quantize(unit, rounding=ROUND_FLOOR) for a in amounts]
        shortfall = (target - sum(floors, Decimal(0))) / unit
        if shortfall != shortfall.to_integral_value():
            raise ValueError(f"target {target} is not a multiple of {unit}")
        base, extra = divmod(int(shortfall), len(amounts))
        by_remainder = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] - floors[i]), i))
        bonus = set(by_remainder[:extra])
        return [floors[i] + unit * (base + (1 if i in bonus else 0)) for i in range(len(amounts))]
