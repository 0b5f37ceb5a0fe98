"""The small chart inside the savings e-mail: a team's daily GPU spend, idle time stacked on top.

Rendered with matplotlib's Agg backend (no display needed) to PNG bytes without metadata, so the
same numbers always give the same bytes and the same content hash.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure

from gpuledger.report.email.digest import DailySpend

BUSY_COLOUR = "#3b6ea8"
IDLE_COLOUR = "#e8893a"


def daily_spend_png(daily: tuple[DailySpend, ...], currency: str) -> bytes:
    """A 600×200 px bar chart; an empty period still gives a chart that says so."""
    figure = Figure(figsize=(6, 2), dpi=100)
    axes = figure.add_subplot()
    days = [d.day.day for d in daily]
    busy = [float(d.busy) for d in daily]
    idle = [float(d.idle) for d in daily]
    axes.bar(days, busy, color=BUSY_COLOUR, label="in use", width=0.8)
    axes.bar(days, idle, bottom=busy, color=IDLE_COLOUR, label="idle", width=0.8)
    axes.set_ylabel(currency + " / day", fontsize=8)
    axes.set_xlabel("day of month", fontsize=8)
    axes.tick_params(labelsize=7)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if daily:
        axes.legend(fontsize=7, frameon=False, ncols=2, loc="lower right", bbox_to_anchor=(1, 1))
    else:
        axes.text(0.5, 0.5, "no spend yet", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
