"""Rows a billing collector refuses, shaped for the ``quarantine`` table.

Part of ``collect/``: the FOCUS and GCP collectors mark each refused row with ``_reason`` and
``_column`` and keep the source row as JSON in ``_raw``; this module turns those rows into
quarantine rows (file, row, column, reason, the row itself and its best-effort cost), so what was
refused stays visible in ``gpuledger status`` and is never silently lost.
"""

from __future__ import annotations

from collections.abc import Sequence
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


# Rows equal in every column to an earlier row of the same ingest: a second copy of one line.
DUPLICATE: Final = "identical in every column to an earlier row: a second copy of the same line"
_PRINT: Final = ("_print_a", "_print_b")
_KEY: Final = "_key"
_SEEDS: Final = (0x51ED2701, 0x9E3779B97F4A7C15)


class RepeatedRows:
    """Finds the rows of an ingest that repeat an earlier row, in the same file or an earlier one.

    A line item delivered twice (a file concatenated with itself, one file copied twice into the
    folder) would double the bill. Two rows are the same line when every column of the source
    row is equal. CUR's ``identity_line_item_id`` and ``identity_time_interval`` are columns of
    the row, so two lines AWS tells apart never match; a FOCUS or GCP export has no line-item
    id, and its natural key is the whole row (period, account, resource, SKU, quantities,
    amounts, tags, and for GCP ``export_time``). The first copy is stored; each later copy goes
    to the quarantine, so stored plus quarantined still equals the source and the duplicate
    stays visible.

    Rows are compared by a 128-bit fingerprint (two independently seeded hashes of the row),
    16 bytes per row kept between files. Where the source has an identity (``key``), only rows
    whose identity repeats are fingerprinted whole, the identity's hash and row number (12
    bytes) are kept, and an earlier file is read again only for the rows a later file repeats:
    hashing every column of a million-row CUR (its map columns most) costs more than mapping it.
    """

    def __init__(self) -> None:
        self._seen = pl.DataFrame(schema=dict.fromkeys(_PRINT, pl.UInt64))
        self._earlier: list[tuple[pl.LazyFrame, str, list[str], pl.DataFrame]] = []

    def of(self, rows: pl.LazyFrame, row: str, key: Sequence[str] = ()) -> pl.Series:
        """The ``row`` numbers of ``rows`` (one file) that repeat an earlier row.

        ``key`` names columns that tell most lines apart (a line's identity, where the source has
        one): only rows whose key repeats are compared whole, so any columns are correct and
        selective ones are cheap. ``rows`` must then stay readable until the ingest ends (a scan
        of its file)."""
        columns = [name for name in rows.collect_schema().names() if name != row]
        identity = [name for name in key if name in columns]
        if not identity:
            return self._whole_rows(rows, row, columns)
        keyed = rows.select(pl.col(row), pl.struct(identity).hash(_SEEDS[0]).alias(_KEY)).collect(
            engine="streaming"
        )
        earlier = [
            (frame, number, names, seen.join(keyed, on=_KEY, how="semi"))
            for frame, number, names, seen in self._earlier
        ]
        candidates = pl.concat(
            [
                keyed.filter(~pl.col(_KEY).is_first_distinct()).get_column(_KEY),
                *(hits.get_column(_KEY) for *_, hits in earlier),
            ]
        )
        self._earlier.append((rows, row, columns, keyed))
        if candidates.is_empty():
            return pl.Series(row, [], dtype=keyed.schema[row])
        mine = _prints(rows, row, columns, keyed.filter(pl.col(_KEY).is_in(candidates.implode())))
        before = [_prints(*found) for found in earlier if found[3].height]
        again = ~pl.struct(_PRINT).is_first_distinct()
        return (
            pl.concat(
                [
                    mine.filter(again).get_column(row),
                    *(
                        mine.join(prints, on=list(_PRINT), how="semi").get_column(row)
                        for prints in before
                    ),
                ]
            )
            .unique()
            .sort()
        )

    def _whole_rows(self, rows: pl.LazyFrame, row: str, columns: list[str]) -> pl.Series:
        """Repeats found by the fingerprint of every row (a source without line identity)."""
        prints = _prints(rows, row, columns)
        again = ~pl.struct(_PRINT).is_first_distinct()
        repeated = pl.concat(
            [
                prints.filter(again).get_column(row),
                prints.join(self._seen, on=list(_PRINT), how="semi").get_column(row),
            ]
        )
        self._seen = pl.concat([self._seen, prints.select(_PRINT).unique()])
        return repeated.unique().sort()


def _prints(
    rows: pl.LazyFrame, row: str, columns: list[str], wanted: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The 128-bit fingerprint of every column of the ``wanted`` rows (all: None), in file order."""
    whole = pl.struct(columns)
    if wanted is not None:
        rows = rows.filter(pl.col(row).is_in(wanted.get_column(row).implode()))
    return rows.select(
        pl.col(row),
        *(whole.hash(seed).alias(name) for name, seed in zip(_PRINT, _SEEDS, strict=True)),
    ).collect(engine="streaming")
