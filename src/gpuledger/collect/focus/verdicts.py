"""Verdicts on FOCUS rows that only the whole file can give: a billing period its delivery does
not cover, and a repeat of an earlier row (see :class:`~gpuledger.collect.quarantine.RepeatedRows`).

Used by the FOCUS collector and by AWS's FOCUS export, which is a FOCUS file.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.collect.quarantine import COLUMN, DUPLICATE, REASON
from gpuledger.period import Period
from gpuledger.schema import Cost

# Columns most FOCUS lines differ in: only lines equal in these are compared whole for repeats.
LINE_KEY: Final = (
    "ChargePeriodStart",
    "BillingAccountId",
    "ResourceId",
    "SkuPriceId",
    "ChargeDescription",
    "BilledCost",
    "EffectiveCost",
)


class FileVerdicts:
    """Two verdicts about rows that only the whole file can give: a billing period its export
    run does not cover, and a repeat of an earlier row (see :class:`RepeatedRows`)."""

    def __init__(self, repeated: pl.Series, months: tuple[Period, Period] | None) -> None:
        self.repeated = repeated.cast(pl.Int64)
        self.months = months

    def __call__(self, mapped: pl.LazyFrame) -> pl.LazyFrame:
        checks: list[tuple[pl.Expr, str, str]] = []
        if self.months is not None:
            first, last = self.months
            period = pl.col(Cost.BillingPeriodStart)
            span = str(first) if first == last else f"{first} to {last}"
            checks.append(
                (
                    (period < first.start) | (period >= last.end),
                    Cost.BillingPeriodStart,
                    f"BillingPeriodStart is not a billing period of its export run ({span})",
                )
            )
        if self.repeated.len():
            checks.append(
                (
                    pl.col(Cost.x_SourceRow).cast(pl.Int64).is_in(self.repeated.implode()),
                    "",
                    DUPLICATE,
                )
            )
        reason, column = pl.col(REASON), pl.col(COLUMN)
        for condition, name, text in reversed(checks):
            hit = pl.col(REASON).is_null() & condition.fill_null(False)
            reason = pl.when(hit).then(pl.lit(text)).otherwise(reason)
            column = pl.when(hit).then(pl.lit(name or None, dtype=pl.String)).otherwise(column)
        return mapped.with_columns(reason.alias(REASON), column.alias(COLUMN))
