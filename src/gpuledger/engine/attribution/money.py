"""Exact splitting of money for the attribution engine: float shares in, Decimal parts out.

Shares (GPU activity, a team's part of a shared pool) are ratios, so a part is computed as a
float; each part is then rounded to a whole nano-unit (1e-9) and becomes a ``MONEY``
(Decimal(38, 18)) value, and the difference between the source amount and the sum of its parts
— a few nano-units at most — is added to the part with the largest absolute value in its group.
The parts of every source group therefore add up *exactly* to the group's amount, so
conservation holds at every level above it.

A group too small for that (under n² nano-units for n parts, where the rounding of n parts
could outweigh the largest one) has its parts cut toward zero instead, so that the difference
keeps the amount's sign and no part ever takes the opposite sign of its amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

import polars as pl

from gpuledger.engine.attribution.keys import row_key
from gpuledger.schema import MONEY

PART: Final = "_part"  # a piece's share of its source amount, as a float
AMOUNT: Final = "_amount"  # the exact amount of a source row or group (MONEY)
AMOUNT_F: Final = "_amount_f"  # the same amount as a float, for computing shares
COST: Final = "_cost"  # the piece's exact amount after settling (MONEY)

# Parts are rounded to this many decimal places before they become Decimals: far below a cent,
# far above float noise, so amounts read cleanly.
_PART_DECIMALS: Final = 9
_NANO: Final = Decimal(1).scaleb(-_PART_DECIMALS)
_ORDER_SEED: Final = 0x73657474


def settle(pieces: pl.LazyFrame, group: Sequence[str], order: Sequence[str]) -> pl.LazyFrame:
    """Turn float pieces into Decimal amounts that sum exactly to their group's total.

    ``pieces`` holds the ``group`` columns, the ``order`` columns (which, with ``group``, identify
    a piece), :data:`PART` and :data:`AMOUNT` (the group's exact total, the same on each of its
    pieces). The result is ``pieces`` with :data:`COST` instead of :data:`AMOUNT`. The residual of
    a group goes to its piece with the largest absolute part; on a tie, to the first by a 64-bit
    key of its ``order`` columns (cheaper to sort by than the columns), so the outcome repeats.
    """
    nanos = pl.col(PART) * 10.0**_PART_DECIMALS
    parts = pl.len().over(group).cast(pl.Float64)
    tiny = pl.col(AMOUNT).first().over(group).cast(pl.Float64).abs() * 10.0**_PART_DECIMALS < (
        parts * parts
    )
    whole_nanos = pl.when(tiny).then(nanos).otherwise(nanos.round(0)).cast(pl.Int128)
    ranked = pieces.sort(
        [*group, row_key([pl.col(name) for name in order], _ORDER_SEED)], nulls_last=True
    ).with_columns((whole_nanos.cast(pl.Decimal(38, 0)) * pl.lit(_NANO)).cast(MONEY).alias(COST))
    position = pl.int_range(pl.len()).over(group)
    largest = pl.col(PART).abs().arg_max().over(group)
    residual = pl.col(AMOUNT).first().over(group) - pl.col(COST).sum().over(group)
    return ranked.with_columns(
        pl.when(position == largest)
        .then(pl.col(COST) + residual)
        .otherwise(pl.col(COST))
        .cast(MONEY)
        .alias(COST)
    ).drop(AMOUNT)
