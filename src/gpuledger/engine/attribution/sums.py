"""Float sums whose bits do not depend on the order rows arrive in.

A float sum depends on the order of its terms, and the order of rows within a group after a join
or a hash group-by is not fixed: it changes with threads, hash seeds and, on Spark, with how the
instances are partitioned. The attribution engine sums shares as floats (GPU-seconds, GPU-hours,
float parts before they are settled to nano-units), so a different order could move a GPU-hour
in its last bit or a part across a nano-unit rounding, from one run to the next.

Here each term is first rounded to a whole multiple of 2⁻⁶⁴ and the multiples are added as 128-bit
integers, which is exact and so independent of order; the total is rounded to a float once. A
term loses at most 2⁻⁶⁵ (about 3e-20), far below a nano-unit of money or of a GPU-hour, and the
sum is exact up to that rounding, where the float sum would carry the rounding of every step.
Terms stay below 2⁶³ (9e18), and sums of them far below 2¹²⁷, so nothing overflows.
"""

from __future__ import annotations

from typing import Final

import polars as pl

_SCALE: Final = float(2**64)


def exact_sum(terms: pl.Expr) -> pl.Expr:
    """The sum of float ``terms``, the same float whatever order the rows come in."""
    return (terms * _SCALE).round().cast(pl.Int128).sum().cast(pl.Float64) / _SCALE
