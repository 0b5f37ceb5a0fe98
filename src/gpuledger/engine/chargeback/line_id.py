"""Stable statement line ids: what exports carry per line and ``gpuledger explain --line`` accepts.

A line's id is a short hash of what names the line — period, team, model, GPU model, cost type
and, on an adjustment line, the closed month it corrects — so the same line of the same month
has the same id in every export, on every machine, for ever, whatever its amount.
"""

from __future__ import annotations

import hashlib
from typing import Final

from gpuledger.engine.chargeback.statements import Line

PREFIX: Final = "line-"
_DIGITS: Final = 12
_SEPARATOR: Final = "\x1f"  # a character no name contains, so ("a b", "c") never meets ("a", "b c")


def line_id(period: str, team: str, line: Line) -> str:
    """``line-`` and 12 hex digits of the SHA-256 of the line's names (see module docstring)."""
    names = (
        period,
        team,
        line.model,
        line.gpu_model or "",
        line.cost_type,
        line.corrects_period or "",
    )
    digest = hashlib.sha256(_SEPARATOR.join(names).encode("utf-8")).hexdigest()
    return PREFIX + digest[:_DIGITS]
