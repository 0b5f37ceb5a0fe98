"""Chargeback page (finance): the month's statements, reconciled to the invoice, with drill-down.

Two views (``?view=``): the month (team statements or the month grouped by ``?group=``: model,
GPU model, account, service, instance, workload tag; drill-down, adjustments, downloads) and the
trend (12 months of statements per team or model, and the month day by day).
"""

from __future__ import annotations

from decimal import Decimal
from functools import partial

import altair as alt
import polars as pl
import streamlit as st

from chargeback_views import grouped_table, trend
from gpuledger.errors import UsageError
from gpuledger.report.export.explanation import closed_note, heading
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.breakdown import GROUPINGS, TREND_BY
from gpuledger.report.readmodel.chargeback import (
    ChargebackView,
    Col,
    Src,
    drill,
    explanation_rules,
    explanation_sources,
)
from gpuledger.schema import UNALLOCATED
from ledger_ui import (
    Table,
    for_display,
    money,
    money_column,
    percent,
    period_picker,
    session,
    team_refusal,
    url_select,
)
from plain import plain

ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
try:
    view = readmodel.chargeback(ledger, info.period, viewer)
except UsageError as refusal:  # the month's allocation is older than its cost or telemetry
    st.error(plain(str(refusal)))
    st.stop()
currency = view.currency
AGAINST_BUDGET = "against_budget"
# a source's cost and share first, so the amounts are never scrolled off at 1440 px
SOURCE_FIRST = [Src.source, Src.cost, Src.share, Src.original, Src.billing_currency]


def headline(view: ChargebackView, status: str) -> None:
    """Invoice vs allocated vs unallocated: always first, never folded away."""
    st.title(f"Chargeback {view.period} · {status}")
    if view.closed:
        st.caption(f"Closed {view.closed_at}: these statements no longer change.")
    elif view.days_with_data and not view.complete:
        st.caption(
            f"Open month: data through day {view.days_with_data} of {view.days_in_period};"
            " forecasts run usage charges at their daily rate to month end and add fees,"
            " tax and credits once."
        )
    share = view.unallocated_share
    columns = st.columns(3)
    if view.invoice_total is not None and view.allocated_total is not None:
        columns[0].metric("Invoice", money(view.invoice_total, currency))
        columns[1].metric("Allocated to teams", money(view.allocated_total, currency))
    else:
        columns[0].metric("Your teams' amount due", money(view.teams_amount_due, currency))
    columns[2].metric(
        UNALLOCATED,
        money(view.unallocated_total, currency),
        help=None if share is None else f"{percent(share)} of the invoice",
    )
    st.caption(
        f"Cost basis: {plain(view.cost_basis)} · {plain(view.mode)} · amounts in {plain(currency)}"
    )


TEAM_COLUMNS = {
    Col.team: "Team",
    Col.total: "Total",
    Col.previous_total: "Last month",
    Col.delta: "Change",
    Col.budget: "Budget",
    AGAINST_BUDGET: "Against budget",
    Col.forecast: "Forecast",
    Col.adjustments: "Adjustments",
    Col.amount_due: "Amount due",
}
LINE_COLUMNS = {
    Col.gpu_hours: "GPU-hours",
    Col.cost: "Cost",
    Col.previous: "Last month",
}


def against_budget(variance: Decimal | None) -> str | None:
    """A team's total against its budget in words: "over by $5.00", "under by $5.00"."""
    if variance is None:
        return None
    if variance == 0:
        return "on budget"
    return f"{'over' if variance > 0 else 'under'} by {money(abs(variance), currency)}"


def team_table(view: ChargebackView) -> None:
    """Every visible team's statement total, month over month, against budget and forecast."""
    st.subheader("Team statements")
    teams = view.teams.with_columns(
        pl.col(Col.variance)
        .map_elements(against_budget, return_dtype=pl.String)
        .alias(AGAINST_BUDGET)
    )
    table = Table(teams, TEAM_COLUMNS, currency).with_total(
        **{Col.delta: pl.col(Col.total) - pl.col(Col.previous_total)}
    )
    table.show_text("csv_teams", f"team-statements-{view.period}.csv")
    chart_rows = for_display(
        view.teams.select(
            Col.team,
            pl.col(Col.total).alias("this month"),
            pl.col(Col.previous_total).alias("last month"),
        )
    )
    long = chart_rows.unpivot(index=Col.team, variable_name="month", value_name="amount")
    chart = (
        alt.Chart(long.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("amount:Q", title=currency),
            y=alt.Y(f"{Col.team}:N", sort="-x", title=None),
            yOffset="month:N",
            color=alt.Color("month:N", title=None),
            tooltip=[Col.team, "month", alt.Tooltip("amount:Q", format=",.2f")],
        )
    )
    st.altair_chart(chart, width="stretch")


def drill_down(view: ChargebackView) -> None:
    """Team → model → GPU model → instance, and why a line is what it is (bound to the URL)."""
    st.subheader("Drill down")
    teams = view.team_names()
    if not teams:
        st.info("No statement lines this month.")
        return
    team = url_select(
        st.selectbox,
        "Team",
        teams,
        param="team",
        key="drill_team",
        refused=team_refusal(viewer, view.period),
    )
    models = drill(view.lines, team)
    Table(models, {Col.model: "Model", **LINE_COLUMNS}, currency).with_total().show_grid(
        "csv_models", f"chargeback-{view.period}-{team}.csv"
    )
    model_names = models[Col.model].to_list()
    if not model_names:
        return
    model = url_select(st.selectbox, "Model", model_names, param="model", key="drill_model")
    lines = drill(view.lines, team, model)
    line_columns = {Col.gpu_model: "GPU model", Col.cost_type: "Cost type", **LINE_COLUMNS}
    Table(lines, line_columns, currency).with_total().show_grid(
        "csv_lines", f"chargeback-{view.period}-{team}-{model}.csv"
    )
    instances(view, team, model)
    explain_line(view, team, model)


def instances(view: ChargebackView, team: str, model: str) -> None:
    """The model's instances as attribution wrote them (billing currency, before rounding)."""
    rows = readmodel.instance_costs(ledger, view.period, viewer, team)
    rows = rows.filter(pl.col(Col.model) == model)
    billing = rows[Col.currency].unique().to_list()
    st.caption("Instances (allocation as attributed, billing currency, before statement rounding)")
    columns = {
        Col.resource: "Instance",
        Col.model: "Model",
        Col.gpu_model: "GPU model",
        Col.gpu_hours: "GPU-hours",
        Col.cost: "Cost",
    }
    table = Table(rows, columns, billing[0] if len(billing) == 1 else currency)
    table.with_total().show_grid("csv_instances", f"instances-{view.period}-{team}-{model}.csv")


def explain_line(view: ChargebackView, team: str, model: str) -> None:
    """One statement line's rules and source line items, adding up to it (`gpuledger explain`)."""
    rows = view.lines.filter((pl.col(Col.team) == team) & (pl.col(Col.model) == model))
    labels = {
        row[Col.line_id]: f"{row[Col.gpu_model] or '—'} · {row[Col.cost_type]}"
        f" · {money(row[Col.cost], currency)}"
        for row in rows.to_dicts()
    }
    if not labels:
        return
    st.subheader("Why is this line on the bill?")
    chosen = st.selectbox("Line", list(labels), format_func=labels.__getitem__, key="explain_line")
    explanation = readmodel.line_explanation(ledger, view.period, viewer, team, str(chosen))
    st.caption(plain(heading(explanation)))
    note = closed_note(explanation)
    if note is not None:
        (st.warning if explanation.restated else st.caption)(plain(note))
    st.dataframe(
        for_display(explanation_rules(explanation)),
        hide_index=True,
        column_config={
            Src.rule: st.column_config.Column("Rule", pinned=True),
            Col.cost: money_column("Cost", currency),
            Col.gpu_hours: st.column_config.NumberColumn("GPU-hours", format="%.1f"),
        },
    )
    sources = explanation_sources(explanation)
    st.dataframe(
        for_display(sources),
        hide_index=True,
        column_order=[*SOURCE_FIRST, *(n for n in sources.columns if n not in SOURCE_FIRST)],
        column_config={
            Src.source: st.column_config.Column("Source", pinned=True),
            Src.day: st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
            Src.provider: "Provider",
            Src.account: "Account",
            Src.resource: "Instance",
            Src.service: "Service",
            Src.charge: "Charge",
            Src.rule: "Rule",
            Src.billing_currency: "Billing currency",
            Src.original: st.column_config.NumberColumn("Original", format="%.2f"),
            Src.share: st.column_config.NumberColumn("Share", format="percent", step=0.001),
            Src.cost: money_column("Cost", currency),
        },
    )


def adjustments(view: ChargebackView) -> None:
    st.subheader("Adjustments from restated closed months")
    if view.adjustments.is_empty():
        st.caption("None: no closed month's billing data changed after it was closed.")
        return
    columns = {
        Col.team: "Team",
        Col.corrects_period: "Corrects",
        Col.model: "Model",
        Col.gpu_model: "GPU model",
        Col.cost_type: "Cost type",
        Col.cost: "Adjustment",
    }
    Table(view.adjustments, columns, currency).with_total().show_grid(
        "csv_adjustments", f"adjustments-{view.period}.csv"
    )


def downloads(view: ChargebackView) -> None:
    """The CLI's exports, byte for byte; every team is in them, so finance only."""
    if not viewer.finance:
        return
    st.subheader("Downloads")
    formats = (("csv", "text/csv", "csv"), ("xlsx", "application/vnd.ms-excel", "xlsx"))
    columns = st.columns(3)
    for column, (fmt, mime, extension) in zip(columns, formats, strict=False):
        column.download_button(
            f"Statements ({fmt})",
            data=partial(readmodel.download, ledger, view.period, viewer, fmt),
            file_name=f"chargeback-{view.period}.{extension}",
            mime=mime,
            key=f"download_{fmt}",
        )
    columns[2].download_button(
        "FOCUS export (parquet)",
        data=partial(readmodel.download, ledger, view.period, viewer, "focus"),
        file_name=f"chargeback-{view.period}-focus.parquet",
        mime="application/vnd.apache.parquet",
        key="download_focus",
    )


VIEWS = {"month": "Month", "trend": "Trend"}


def view_pickers() -> tuple[str, str]:
    """The view (``?view=``) and the grouping (``?group=``; the trend offers team and model)."""
    left, right, _ = st.columns([1, 1, 2])
    with left:
        chosen = url_select(
            st.segmented_control,
            "View",
            list(VIEWS),
            param="view",
            key="cb_view",
            format_func=VIEWS.__getitem__,
        )
    groupings = list(GROUPINGS) if chosen == "month" else list(TREND_BY)
    with right:
        grouping = url_select(
            st.selectbox,
            "Group by",
            groupings,
            param="group",
            key="cb_group",
            format_func=lambda g: GROUPINGS[g][0],
        )
    return chosen, grouping


headline(view, info.status)
chosen_view, grouping = view_pickers()
if chosen_view == "trend":
    trend(ledger, view.period, viewer, grouping, currency)
else:
    if grouping == "team":
        team_table(view)
    else:
        grouped_table(ledger, view.period, viewer, grouping, currency)
    drill_down(view)
    adjustments(view)
    downloads(view)
