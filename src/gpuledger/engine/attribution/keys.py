"""64-bit keys of several columns, so that the engine groups millions of rows by one integer.

A key is each column's own seeded hash folded together (``key × K + hash``, wrapping), which is
several times cheaper than hashing a struct of the columns. Two different rows share a key only
by a 64-bit accident; callers that must be exact compute a second key under another seed and
check that it agrees within each group (:func:`disagrees`), falling back to exact grouping when
it does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import polars as pl

_MULTIPLIER: Final = 0x9E3779B97F4A7C15  # odd, so each step is a bijection of the key so far
_SEED_STEP: Final = 0x2545F4914F6CDD1D


def row_key(columns: Sequence[pl.Expr], seed: int) -> pl.Expr:
    """A 64-bit key of ``columns`` under ``seed``: equal rows always share it."""
    key = pl.lit(seed & 0xFFFFFFFFFFFFFFFF, dtype=pl.UInt64)
    for position, column in enumerate(columns):
        column_seed = (seed + (position + 1) * _SEED_STEP) & 0xFFFFFFFFFFFFFFFF
        key = key * pl.lit(_MULTIPLIER, dtype=pl.UInt64) + column.hash(column_seed)
    return key


def disagrees(check: str) -> pl.Expr:
    """Within a group by key: whether the rows differ in their ``check`` key (a collision)."""
    return pl.col(check).min() != pl.col(check).max()
