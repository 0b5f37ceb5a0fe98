"""GPU waste page (team leads): idle and underused GPU-hours in dollars, and when they happen.

Period, teams and grouping live in the URL (``/waste?period=2026-09&team=nlp&group=instance``);
the teams chosen cut the whole page, headline and heatmaps included.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.engine.waste.compute import Waste
from gpuledger.period import Period
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.waste import (
    GROUPINGS,
    INSTANCE,
    Util,
    WasteView,
    colour_domain,
    memory_headroom,
    top_offenders,
    waste_by,
)
from ledger_ui import (
    Table,
    for_display,
    hours,
    money,
    percent,
    period_picker,
    session,
    url_multiselect,
    url_select,
)

HEADROOM = "headroom"
# Waste first after the key, so the amount is never scrolled off at 1440 px; the full instance
# id last, where a long GCP or Azure path may run on.
AMOUNT_COLUMNS = {
    Waste.waste_cost: "Waste",
    Waste.idle_cost: "Idle",
    Waste.unused_cost: "Unused capacity",
    Waste.cost: "GPU cost",
    Waste.gpu_hours: "GPU-hours",
    Waste.idle_gpu_hours: "Idle GPU-hours",
    Waste.unused_gpu_hours: "Unused GPU-hours",
}
KEY_COLUMNS = {
    "team": {Waste.team: "Team"},
    "model": {Waste.model: "Model", Waste.team: "Team"},
    "instance": {INSTANCE: "Instance", Waste.team: "Team", Waste.gpu_model: "GPU model"},
}
CHART_LABEL = {"team": Waste.team, "model": Waste.model, "instance": INSTANCE}

ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
period = info.period


def headline(view: WasteView) -> None:
    columns = st.columns(4)
    columns[0].metric("GPU-hours", hours(view.gpu_hours))
    columns[1].metric(
        "Idle GPU-hours",
        hours(view.idle_gpu_hours),
        help=f"{percent(view.idle_share)} of GPU-hours",
    )
    columns[2].metric("GPU cost", money(view.cost, view.currency))
    columns[3].metric("Waste", money(view.waste_cost, view.currency))


def breakdown(view: WasteView) -> None:
    st.subheader("Waste by team, model or instance")
    grouping = url_select(
        st.radio, "Group by", list(GROUPINGS), param="group", key="waste_grouping", horizontal=True
    )
    summed = waste_by(view, grouping)
    label = CHART_LABEL[grouping]
    top = for_display(summed.head(20)).to_pandas()
    tooltip = [Waste.team, label] if grouping != "team" else [Waste.team]
    if grouping == "instance":
        tooltip += [Waste.ResourceId, Waste.gpu_model]
    chart = (
        alt.Chart(top)
        .mark_bar()
        .encode(
            x=alt.X(f"{Waste.waste_cost}:Q", title=f"waste ({view.currency})"),
            y=alt.Y(f"{label}:N", sort="-x", title=None),
            color=alt.Color(f"{Waste.team}:N", title="team"),
            tooltip=[*tooltip, alt.Tooltip(f"{Waste.waste_cost}:Q", format=",.2f")],
        )
    )
    st.altair_chart(chart, width="stretch")
    columns = {**KEY_COLUMNS[grouping], **AMOUNT_COLUMNS}
    if grouping == "instance":
        columns[Waste.ResourceId] = "Instance id"
    Table(summed, columns, view.currency).with_total().show_grid(
        "csv_waste", f"waste-{view.period}-by-{grouping}.csv", wide=[Waste.ResourceId]
    )


def heatmap(view: WasteView) -> None:
    st.subheader("Utilization over time")
    shape = st.radio("Heatmap", ["day × hour", "GPU × hour"], horizontal=True, key="heatmap")
    if shape == "day × hour":
        cells = readmodel.day_by_hour(view)
        y = alt.Y(f"{Util.day}:O", title="day", timeUnit="monthdate")
        where: list[str] = []
    else:
        first, *_, last = Period.parse(view.period).dates()
        day = st.date_input("Day", value=first, min_value=first, max_value=last, key="heatmap_day")
        cells = readmodel.gpu_by_hour(view, day)
        y = alt.Y(f"{Util.gpu_name}:N", title="GPU")
        where = [Util.gpu_name, Util.gpu]
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
                f"{Util.sm_util}:Q",
                title="SM %",
                scale=alt.Scale(domain=colour_domain(cells), scheme="blues", clamp=True),
            ),
            tooltip=[
                *where,
                alt.Tooltip(f"{Util.sm_util}:Q", title="SM %", format=".1f"),
                alt.Tooltip(f"{Util.held_hours}:Q", title="GPU-hours held", format=",.1f"),
            ],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.caption("Colours run from the lowest to the highest utilization shown: pale is idle.")


def memory(view: WasteView) -> None:
    st.subheader("Memory headroom")
    columns = {
        INSTANCE: "Instance",
        HEADROOM: "Free at peak",
        Waste.mem_peak_gib: "Peak GiB",
        Waste.mem_p95_gib: "p95 GiB",
        Waste.mem_capacity_gib: "GPU GiB",
        Waste.team: "Team",
        Waste.model: "Model",
        Waste.gpu_model: "GPU model",
        Waste.ResourceId: "Instance id",
    }
    Table(memory_headroom(view), columns, view.currency, shares=[HEADROOM]).show_grid(
        "csv_memory", f"memory-headroom-{view.period}.csv", wide=[Waste.ResourceId]
    )


def offenders(view: WasteView) -> None:
    st.subheader("Top offenders")
    columns = {
        INSTANCE: "Instance",
        Waste.waste_cost: "Waste",
        Waste.team: "Team",
        Waste.model: "Model",
        Waste.workload: "Workload",
        Waste.gpu_model: "GPU model",
        Waste.idle_gpu_hours: "Idle GPU-hours",
        Waste.unused_gpu_hours: "Unused GPU-hours",
        Waste.gpu_hour_price: "Per GPU-hour",
        Waste.ResourceId: "Instance id",
    }
    Table(top_offenders(view), columns, view.currency).with_total(
        **{Waste.gpu_hour_price: pl.lit(None)}
    ).show_grid("csv_offenders", f"waste-offenders-{view.period}.csv", wide=[Waste.ResourceId])


st.title(f"GPU waste {period}")
st.caption(
    "Waste = idle GPU-hours (no workload, or SM activity under the idle bar) plus the unused"
    " part of underused hours, priced at each instance's own cost per GPU-hour."
)
teams = readmodel.waste_teams(ledger, period, viewer)
chosen = url_multiselect("Teams", teams, param="team", key="waste_teams")
view = readmodel.waste(ledger, period, viewer, chosen)
headline(view)
breakdown(view)
heatmap(view)
memory(view)
offenders(view)
