"""Rows a billing collector refuses, shaped for the ``quarantine`` table.

Part of ``collect/``: the FOCUS and GCP collectors mark each refused row with ``_reason`` and
``_column`` and keep the source row as JSON in ``_raw``; this module turns those rows into
quarantine rows (file, row, column, reason, the row itself and its best-effort cost), so what was
refused stays visible in ``gpuledger status`` and is never silently lost.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from gpuledger.schema import QUARANTINE_SCHEMA, Cost, Quarantine

# The diagnostic columns a collector adds to each parsed row; REASON is null on a sound row.
REASON: Final = "_reason"
COLUMN: Final = "_column"
RAW: Final = "_raw"


def split_refused(parsed: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(storable rows without the diagnostic columns, refused rows with them)."""
    refused = parsed.filter(pl.col(REASON).is_not_null())
    kept = parsed.filter(pl.col(REASON).is_null()).drop(REASON, COLUMN, RAW, strict=False)
    return kept, refused


def quarantine_rows(refused: pl.DataFrame, file: str) -> pl.DataFrame:
    """Quarantine rows for refused rows of one file (``x_Source``/``x_IngestId`` come later)."""
    if refused.is_empty():
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    return refused.select(
        pl.lit(None, dtype=pl.String).alias(Quarantine.x_Source),
        pl.col(Cost.BillingPeriodStart).dt.strftime("%Y-%m").alias(Quarantine.x_BillingPeriod),
        pl.col(Cost.BillingAccountId).alias(Quarantine.BillingAccountId),
        pl.lit(file).alias(Quarantine.file),
        pl.col(Cost.x_SourceRow).cast(pl.Int64).alias(Quarantine.row),
        pl.col(COLUMN).alias(Quarantine.column),
        pl.col(REASON).alias(Quarantine.reason),
        pl.col(RAW).alias(Quarantine.raw),
        pl.col(Cost.BilledCost).alias(Quarantine.cost),
        pl.col(Cost.BillingCurrency).alias(Quarantine.currency),
        pl.lit(None, dtype=pl.String).alias(Quarantine.x_IngestId),
    ).cast(dict(QUARANTINE_SCHEMA.items()))
