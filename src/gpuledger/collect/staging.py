"""Per-file staging of mapped billing rows: Parquet files on disk, read back as one lazy batch.

Part of ``collect/``, between a collector's mapping and :func:`~gpuledger.collect.ingest.ingest_cost`.
Each source file's mapped rows are written (streamed, when they are lazy) to a Parquet file of
their own in a temporary folder, in ``cost`` column order plus the verdict columns (``_reason``,
``_column``, and the cost the file states, for the quarantine). Rows with a reason are handed back for the quarantine and never reach the staged batch.
The batch, :meth:`Staging.rows`, is a plain scan of those files: a row-wise plan, so the store's
chunked reads slice straight into the files and memory stays bounded by one chunk.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from gpuledger.collect.quarantine import COLUMN, REASON
from gpuledger.schema import COST_SCHEMA, MONEY

STATED_COST = "_stated_cost"  # a line's cost as its file states it, for the quarantine to show
_VERDICT = {REASON: pl.String(), COLUMN: pl.String(), STATED_COST: MONEY}


def in_cost_columns(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Every ``cost`` column in schema order (absent ones null), then the verdict columns."""
    names = rows.collect_schema().names()
    wanted = {**dict(COST_SCHEMA.items()), **_VERDICT}
    return rows.select(
        pl.col(name).cast(dtype) if name in names else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in wanted.items()
    )


class Staging:
    """The staged files of one ingest run, in the order the source files were read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []
        self.sound_rows: list[int] = []  # per staged file

    def stage(self, rows: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
        """Stage one source file's rows; return its refused rows (those with a ``_reason``).

        Lazy rows are streamed to disk. When some rows are refused, the sound ones are copied
        to a second file so the batch never has to filter; that copy costs one more pass only
        for files that have refused rows.
        """
        path = self.folder / f"{len(self.files):06d}.parquet"
        in_cost_columns(rows.lazy()).sink_parquet(path, compression="lz4")
        refused_rows = pl.col(REASON).is_not_null()
        refused = pl.scan_parquet(path).filter(refused_rows).collect()
        if refused.height:
            sound = path.with_suffix(".sound.parquet")
            pl.scan_parquet(path).filter(~refused_rows).sink_parquet(sound, compression="lz4")
            path.unlink()
            path = sound
        self.files.append(path)
        self.sound_rows.append(pl.scan_parquet(path).select(pl.len()).collect().item())
        return refused

    def rows(self) -> pl.LazyFrame:
        """Every staged sound row, in ``cost`` columns."""
        if not self.files:
            return pl.LazyFrame(schema=COST_SCHEMA)
        return pl.scan_parquet(self.files, glob=False).drop(*_VERDICT)
