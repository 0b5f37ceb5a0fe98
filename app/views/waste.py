"""GPU waste page (team leads): idle and underused GPU-hours in dollars, and when they happen."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.engine.waste.compute import Waste
from gpuledger.period import Period
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.waste import GROUPINGS, Util, memory_headroom, waste_by
from ledger_ui import for_display, hours_column, money, money_column, period_picker, session

ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
view = readmodel.waste(ledger, info.period, viewer)
currency = view.currency
AMOUNTS = {
    Waste.cost: money_column("GPU cost", currency),
    Waste.idle_cost: money_column("Idle", currency),
    Waste.unused_cost: money_column("Unused capacity", currency),
    Waste.waste_cost: money_column("Waste", currency),
    Waste.gpu_hour_price: money_column("Per GPU-hour", currency),
    Waste.gpu_hours: hours_column("GPU-hours"),
    Waste.idle_gpu_hours: hours_column("Idle GPU-hours"),
    Waste.unused_gpu_hours: hours_column("Unused GPU-hours"),
}


def headline() -> None:
    st.title(f"GPU waste {view.period}")
    st.caption(
        "Waste = idle GPU-hours (no workload, or SM activity under the idle bar) plus the unused"
        " part of underused hours, priced at each instance's own cost per GPU-hour."
    )
    columns = st.columns(4)
    columns[0].metric("GPU-hours", f"{view.gpu_hours:,.1f}")
    columns[1].metric(
        "Idle GPU-hours", f"{view.idle_gpu_hours:,.1f}", help=f"{view.idle_share:.1%} of GPU-hours"
    )
    columns[2].metric("GPU cost", money(view.cost, currency))
    columns[3].metric("Waste", money(view.waste_cost, currency))


def breakdown(rows: pl.DataFrame) -> None:
    st.subheader("Waste by team, model or instance")
    grouping = st.radio("Group by", list(GROUPINGS), horizontal=True, key="waste_grouping")
    summed = waste_by(rows, str(grouping))
    label = GROUPINGS[str(grouping)][-1]
    top = for_display(summed.head(20)).to_pandas()
    chart = (
        alt.Chart(top)
        .mark_bar()
        .encode(
            x=alt.X(f"{Waste.waste_cost}:Q", title=f"waste ({currency})"),
            y=alt.Y(f"{label}:N", sort="-x", title=None),
            color=alt.Color(f"{Waste.team}:N", title="team"),
            tooltip=[
                *GROUPINGS[str(grouping)],
                alt.Tooltip(f"{Waste.waste_cost}:Q", format=",.2f"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(for_display(summed), hide_index=True, column_config=AMOUNTS)


def heatmap() -> None:
    st.subheader("Utilization over time")
    shape = st.radio("Heatmap", ["day × hour", "GPU × hour"], horizontal=True, key="heatmap")
    if shape == "day × hour":
        cells = readmodel.day_by_hour(view)
        y = alt.Y(f"{Util.day}:O", title="day", timeUnit="monthdate")
    else:
        first, *_, last = Period.parse(view.period).dates()
        day = st.date_input("Day", value=first, min_value=first, max_value=last, key="heatmap_day")
        cells = readmodel.gpu_by_hour(view, day)
        y = alt.Y(f"{Util.gpu}:N", title="GPU")
    if cells.is_empty():
        st.info("No GPU telemetry for this selection.")
        return
    chart = (
        alt.Chart(cells.to_pandas())
        .mark_rect()
        .encode(
            x=alt.X(f"{Util.hour_of_day}:O", title="hour of day (UTC)"),
            y=y,
            color=alt.Color(
                f"{Util.sm_util}:Q", title="SM %", scale=alt.Scale(domain=[0, 100], scheme="blues")
            ),
            tooltip=[alt.Tooltip(f"{Util.sm_util}:Q", format=".1f"), Util.held_hours],
        )
    )
    st.altair_chart(chart, width="stretch")


def memory_and_offenders(rows: pl.DataFrame) -> None:
    st.subheader("Memory headroom")
    st.dataframe(
        memory_headroom(rows),
        hide_index=True,
        column_config={
            "headroom": st.column_config.NumberColumn("Free at peak", format="percent"),
            Waste.mem_peak_gib: st.column_config.NumberColumn("Peak GiB", format="%.1f"),
            Waste.mem_p95_gib: st.column_config.NumberColumn("p95 GiB", format="%.1f"),
            Waste.mem_capacity_gib: st.column_config.NumberColumn("GPU GiB", format="%.0f"),
        },
    )
    st.subheader("Top offenders")
    columns = [
        Waste.team,
        Waste.model,
        Waste.workload,
        Waste.ResourceId,
        Waste.gpu_model,
        Waste.idle_gpu_hours,
        Waste.unused_gpu_hours,
        Waste.gpu_hour_price,
        Waste.waste_cost,
    ]
    top = rows.filter(pl.col(Waste.waste_cost) > 0).head(10).select(columns)
    st.dataframe(for_display(top), hide_index=True, column_config=AMOUNTS)


headline()
teams = sorted(set(view.rows[Waste.team].to_list()))
chosen = st.multiselect("Teams", teams, default=teams, key="waste_teams")
rows = view.rows.filter(pl.col(Waste.team).is_in(chosen))
breakdown(rows)
heatmap()
memory_and_offenders(rows)
