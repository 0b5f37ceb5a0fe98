"""Chargeback page (finance): the month's statements, reconciled to the invoice, with drill-down."""

from __future__ import annotations

from functools import partial

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.report.export.explanation import closed_note, heading
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.chargeback import (
    ChargebackView,
    Col,
    Src,
    drill,
    explanation_rules,
    explanation_sources,
)
from gpuledger.schema import UNALLOCATED
from ledger_ui import for_display, money, money_column, money_table, period_picker, session

ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
view = readmodel.chargeback(ledger, info.period, viewer)
currency = view.currency


def headline(view: ChargebackView) -> None:
    """Invoice vs allocated vs unallocated: always first, never folded away."""
    title = f"Chargeback {view.period}"
    state = " · closed" if view.closed else " · final" if view.complete else " · open"
    st.title(title + state)
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
        help=None if share is None else f"{share:.1%} of the invoice",
    )
    st.caption(f"Cost basis: {view.cost_basis} · {view.mode} · amounts in {currency}")


TEAM_COLUMNS = {
    Col.team: "Team",
    Col.total: "Total",
    Col.previous_total: "Last month",
    Col.delta: "Change",
    Col.budget: "Budget",
    Col.variance: "Over budget",
    Col.forecast: "Forecast",
    Col.adjustments: "Adjustments",
    Col.amount_due: "Amount due",
}


def team_table(view: ChargebackView) -> None:
    """Every visible team's statement total, month over month, against budget and forecast."""
    st.subheader("Team statements")
    st.table(money_table(view.teams, TEAM_COLUMNS, currency))
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
    """Team → model → GPU model → instance, and why a line is what it is."""
    st.subheader("Drill down")
    teams = view.team_names()
    if not teams:
        st.info("No statement lines this month.")
        return
    team = st.selectbox("Team", teams, key="drill_team")
    if team not in teams:  # a value forced into the widget's state: refuse, show nothing
        st.warning(f"{team} is not among the teams you may see.")
        return
    models = drill(view.lines, str(team))
    amounts = {
        Col.cost: money_column("Cost", currency),
        Col.previous: money_column("Last month", currency),
    }
    st.dataframe(for_display(models), hide_index=True, column_config=amounts)
    model_names = models[Col.model].to_list()
    if not model_names:
        return
    model = st.selectbox("Model", model_names, key="drill_model")
    lines = drill(view.lines, str(team), str(model))
    st.dataframe(for_display(lines), hide_index=True, column_config=amounts)
    instances = readmodel.instance_costs(ledger, view.period, viewer, str(team))
    instances = instances.filter(pl.col(Col.model) == model)
    st.caption("Instances (allocation as attributed, billing currency, before statement rounding)")
    st.dataframe(
        for_display(instances),
        hide_index=True,
        column_config={Col.cost: st.column_config.NumberColumn("Cost", format="%.2f")},
    )
    explain_line(view, str(team), str(model))


def explain_line(view: ChargebackView, team: str, model: str) -> None:
    """One statement line's rules and source line items, adding up to it (`gpuledger explain`)."""
    rows = view.lines.filter((pl.col(Col.team) == team) & (pl.col(Col.model) == model))
    labels = {
        row[Col.line_id]: f"{row[Col.gpu_model] or '-'} · {row[Col.cost_type]}"
        f" · {money(row[Col.cost], currency)}"
        for row in rows.to_dicts()
    }
    if not labels:
        return
    st.subheader("Why is this line on the bill?")
    chosen = st.selectbox("Line", list(labels), format_func=labels.__getitem__, key="explain_line")
    explanation = readmodel.line_explanation(ledger, view.period, viewer, team, str(chosen))
    st.caption(heading(explanation))
    note = closed_note(explanation)
    if note is not None:
        (st.warning if explanation.restated else st.caption)(note)
    st.dataframe(
        for_display(explanation_rules(explanation)),
        hide_index=True,
        column_config={Col.cost: money_column("Cost", currency)},
    )
    st.dataframe(
        for_display(explanation_sources(explanation)),
        hide_index=True,
        column_config={
            Src.original: st.column_config.NumberColumn("Original", format="%.2f"),
            Src.share: st.column_config.NumberColumn("Share", format="percent"),
            Src.cost: money_column("Cost", currency),
        },
    )


def adjustments(view: ChargebackView) -> None:
    st.subheader("Adjustments from restated closed months")
    if view.adjustments.is_empty():
        st.caption("None: no closed month's billing data changed after it was closed.")
        return
    rows = view.adjustments.select(
        Col.team, Col.corrects_period, Col.model, Col.gpu_model, Col.cost_type, Col.cost
    )
    st.dataframe(
        for_display(rows),
        hide_index=True,
        column_config={Col.cost: money_column("Adjustment", currency)},
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


headline(view)
team_table(view)
drill_down(view)
adjustments(view)
downloads(view)
