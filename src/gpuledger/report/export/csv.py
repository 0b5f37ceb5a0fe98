"""Statements as CSV for an ERP: one row per statement line, formula-safe text."""

from __future__ import annotations

import csv
import io
from typing import Final

from gpuledger.engine.chargeback.line_id import line_id
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.report.export.cells import flat_lines, money_text, safe_text

CSV_COLUMNS: Final = (
    "period",
    "mode",
    "team",
    "line_kind",
    "corrects_period",
    "model",
    "gpu_model",
    "cost_type",
    "gpu_hours",
    "cost",
    "previous_cost",
    "currency",
    "line_id",
)


def render_csv(statements: Statements) -> bytes:
    """One row per line and per adjustment line; a team's rows sum to its amount due.

    Amounts are exact decimal text in the currency's minor unit; text that a spreadsheet would
    take for a formula is prefixed with an apostrophe (see ``safe_text``). ``line_id`` is the
    line's stable id, which ``gpuledger explain --line`` accepts.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for team in statements.teams:
        for flat in flat_lines(team):
            line = flat.line
            writer.writerow(
                [
                    statements.period,
                    statements.mode,
                    safe_text(flat.team),
                    flat.kind,
                    line.corrects_period or "",
                    safe_text(line.model),
                    safe_text(line.gpu_model),
                    safe_text(line.cost_type),
                    repr(line.gpu_hours),
                    money_text(line.cost),
                    money_text(line.previous),
                    statements.currency,
                    line_id(statements.period, flat.team, line),
                ]
            )
    return buffer.getvalue().encode("utf-8")
