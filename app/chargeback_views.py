"""The chargeback page's other views: the month grouped any way, and the 12-month cost trend.

Both read :mod:`gpuledger.report.readmodel.cached` (cached per ledger state, cut per viewer); the
amounts are the statements' own, rounded so that every table adds up to the statements exactly.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.breakdown import COST, DAY, GPU_HOURS, GROUP, GROUPINGS, PERIOD
from gpuledger.report.readmodel.cached import Ledger
from ledger_ui import Table, for_display

SHARE = "share"
TOTAL_COLUMN = "_total"
CHART_GROUPS = 12  # groups drawn one by one in a chart; the rest are summed as "other"
OTHER = "other"


def grouped_table(
    ledger: Ledger, period: str, viewer: Viewer, grouping: str, currency: str
) -> None:
    """The month's cost and GPU-hours per group, with shares, a total row, CSV and a bar chart."""
    label = GROUPINGS[grouping][0]
    st.subheader(f"Cost by {label.lower()}")
    frame = readmodel.grouped(ledger, period, viewer, grouping)
    total = frame[COST].sum()
    share = pl.col(COST).cast(pl.Float64) / float(total) if total else pl.lit(None, pl.Float64)
    shares = frame.with_columns(share.alias(SHARE))
    columns = {GROUP: label, COST: "Cost", SHARE: "Share", GPU_HOURS: "GPU-hours"}
    Table(shares, columns, currency, shares=[SHARE]).with_total().show_grid(
        f"csv_group_{grouping}", f"chargeback-{period}-by-{grouping}.csv"
    )
    chart = (
        alt.Chart(for_display(_top(frame, GROUP)).to_pandas())
        .mark_bar()
        .encode(
            x=alt.X(f"{COST}:Q", title=currency),
            y=alt.Y(f"{GROUP}:N", sort="-x", title=None),
            tooltip=[
                alt.Tooltip(f"{GROUP}:N", title=label),
                alt.Tooltip(f"{COST}:Q", format=",.2f", title=currency),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")


def trend(ledger: Ledger, period: str, viewer: Viewer, by: str, currency: str) -> None:
    """Statement totals of the last 12 months per team or model, then the month day by day."""
    label = GROUPINGS[by][0]
    months = readmodel.trend(ledger, period, viewer, by)
    st.subheader(f"Cost per month by {label.lower()}, 12 months through {period}")
    _stacked(months, PERIOD, "month", label, currency)
    _pivot(months, PERIOD, "Month", currency, f"trend-{period}-by-{by}.csv", f"csv_trend_{by}")
    days = readmodel.daily(ledger, period, viewer, by)
    st.subheader(f"{period} day by day")
    _stacked(days, DAY, "day", label, currency)
    _pivot(days, DAY, "Day", currency, f"daily-{period}-by-{by}.csv", f"csv_daily_{by}")


def _top(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """The largest :data:`CHART_GROUPS` values of ``key`` by cost; the rest summed as "other"."""
    largest = (
        frame.group_by(GROUP)
        .agg(pl.col(COST).sum())
        .sort(COST, GROUP, descending=[True, False])
        .head(CHART_GROUPS)[GROUP]
    )
    named = (
        pl.when(pl.col(GROUP).is_in(largest.implode())).then(pl.col(GROUP)).otherwise(pl.lit(OTHER))
    )
    keys = [key] if key != GROUP else []
    return frame.group_by(*keys, named.alias(GROUP)).agg(pl.col(COST).sum())


def _stacked(frame: pl.DataFrame, key: str, title: str, label: str, currency: str) -> None:
    if frame.is_empty():
        st.info("No statements for these months.")
        return
    chart = (
        alt.Chart(for_display(_top(frame, key)).to_pandas())
        .mark_bar()
        .encode(
            x=alt.X(f"{key}:O", title=title),
            y=alt.Y(f"sum({COST}):Q", title=currency),
            color=alt.Color(f"{GROUP}:N", title=label),
            tooltip=[
                alt.Tooltip(f"{key}:O", title=title),
                alt.Tooltip(f"{GROUP}:N", title=label),
                alt.Tooltip(f"sum({COST}):Q", format=",.2f", title=currency),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")


def _pivot(frame: pl.DataFrame, key: str, title: str, currency: str, file: str, csv: str) -> None:
    """Months (or days) down, groups across, a total per row and a total row."""
    if frame.is_empty():
        return
    wide = frame.pivot(
        on=GROUP, index=key, values=COST, aggregate_function="sum", sort_columns=True
    )
    groups = [name for name in wide.columns if name != key]
    wide = wide.sort(key).with_columns(
        pl.sum_horizontal(groups).cast(frame.schema[COST]).alias(TOTAL_COLUMN)
    )
    columns = {key: title, TOTAL_COLUMN: "Total", **{name: name for name in groups}}
    Table(wide.with_columns(pl.col(key).cast(pl.String)), columns, currency).with_total().show_grid(
        csv, file
    )
