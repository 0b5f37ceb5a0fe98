"""Alerts page: spend anomalies and budget states by team, one alert's series with its band.

Period, team, the alert shown and whether closed ones are listed live in the URL
(``/alerts?period=2026-10&id=ano-…``): the e-mails and webhook messages link to their alert this
way. Acknowledge and dismiss work as on the recommendations page; a dismissed alert is never
sent, and one already sent is not sent again.
"""

from __future__ import annotations

from dataclasses import replace

import altair as alt
import streamlit as st

from gpuledger.engine.alerts.budget import BudgetState
from gpuledger.engine.alerts.model import Alert
from gpuledger.errors import GpuledgerError
from gpuledger.report.notify.status import DISMISSED, OPEN
from gpuledger.report.readmodel import alerts as alerts_rm
from gpuledger.report.readmodel import cached
from gpuledger.report.readmodel.alerts import ANOMALOUS, AlertsView
from ledger_ui import Table, money, period_picker, session, team_refusal, url_select, url_toggle
from plain import plain

ALL_TEAMS = ""
FLASH = "alert_flash"  # session state: the outcome of the last status change, shown once
LIST_COLUMNS = {
    "id": "Id",
    "status": "Status",
    "team": "Team",
    "series": "Series",
    "when": "Day",
    "impact": "Impact",
    "title": "What",
    "lead_mail": "Lead e-mail",
    "finance_mail": "Finance e-mail",
    "webhook": "Webhook",
}
BUDGET_COLUMNS = {
    "team": "Team",
    "state": "State",
    "budget": "Budget",
    "month_to_date": "Month to date",
    "share": "Share",
    "forecast": "Forecast",
}


ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
period = info.period
view = cached.alerts(ledger, period, viewer)
currency = view.currency


def team_filter(view: AlertsView) -> AlertsView:
    """The team picker (``?team=``): all the viewer's teams, or one of them."""
    named = {a.team for a in view.alerts if a.team} | {b.team for b in view.budgets}
    teams = sorted(team for team in named | set(ledger.settings().teams) if viewer.sees(team))
    team = url_select(
        st.sidebar.selectbox,
        "Team",
        [ALL_TEAMS, *teams],
        param="team",
        key="alert_team",
        refused=team_refusal(viewer, period),
        format_func=lambda t: t or "All teams",
    )
    if not team:
        return view
    return replace(
        view,
        alerts=tuple(a for a in view.alerts if a.team == team),
        budgets=tuple(b for b in view.budgets if b.team == team),
    )


def budget_table(budgets: tuple[BudgetState, ...]) -> None:
    st.subheader("Budgets")
    if not budgets:
        st.caption("No team has a budget or spend this month.")
        return
    frame = alerts_rm.budget_frame(budgets)
    Table(frame, BUDGET_COLUMNS, currency, shares=["share"]).show_text(
        "csv_budgets", f"budgets-{period}.csv"
    )


def change_status(action: str) -> None:
    """A button's callback: runs before the page, so the table shows the new status."""
    state = st.session_state
    alert_id = str(state["alert_id"])
    try:
        status = alerts_rm.change_status(ledger.store().state, view, viewer, alert_id, action)
    except GpuledgerError as error:
        state[FLASH] = ("error", str(error))
    else:
        state[FLASH] = ("success", f"{alert_id}: {status}")


def series_chart(alert: Alert, alerts: tuple[Alert, ...]) -> None:
    frame = cached.alert_chart(ledger, alert, alerts)
    if frame.is_empty():
        st.caption("No daily spend recorded for this series.")
        return
    data = frame.to_pandas()
    base = alt.Chart(data).encode(x=alt.X("day:T", title=None))
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("lower:Q", title=f"spend a day ({currency})"), y2="upper:Q"
    )
    expected = base.mark_line(strokeDash=[4, 3], color="gray").encode(y="expected:Q")
    actual = base.mark_line().encode(
        y="actual:Q", tooltip=["day:T", alt.Tooltip("actual:Q", format=",.2f")]
    )
    marked = (
        base.transform_filter(alt.datum[ANOMALOUS])
        .mark_point(color="firebrick", size=90, filled=True)
        .encode(y="actual:Q")
    )
    st.altair_chart(band + expected + actual + marked, width="stretch")
    st.caption("Shaded: the expected band; dashed: expected; red: the anomalous days.")


def show_alert(alert: Alert) -> None:
    state = view.states[alert.id]
    st.markdown(f"**{plain(alert.title)}** — status *{plain(state.status)}*")
    if alert.explanation:
        st.markdown(plain(alert.explanation))
    anomaly = alert.kind == "anomaly"
    cols = st.columns(3)
    cols[0].metric("Expected" if anomaly else "Budget", money(alert.expected, currency))
    cols[1].metric("Actual" if anomaly else "Spend", money(alert.actual, currency))
    cols[2].metric("Impact", money(alert.impact, currency))
    if alert.drivers:
        st.markdown(
            "\n".join(
                f"- {plain(d.label)}: {plain(d.detail)} ({money(d.cost, currency)})"
                for d in alert.drivers
            )
        )
    st.caption(
        f"E-mail to the lead: {state.lead_mail} · to finance: {state.finance_mail} · webhook:"
        f" {state.webhook}" + (f" · {plain(state.detail)}" if state.detail else "")
    )
    buttons = st.columns(3)
    if state.status != "acknowledged":
        buttons[0].button(
            "Acknowledge", key="alert_ack", on_click=change_status, args=("acknowledge",)
        )
    if state.status != DISMISSED:
        buttons[1].button("Dismiss", key="alert_dismiss", on_click=change_status, args=("dismiss",))
    if state.status != OPEN:
        buttons[2].button("Re-open", key="alert_reopen", on_click=change_status, args=("reopen",))
    flash = st.session_state.pop(FLASH, None)
    if flash is not None:
        (st.error if flash[0] == "error" else st.success)(plain(flash[1]))
    if anomaly:
        series_chart(alert, view.alerts)


def pick_alert(shown: AlertsView) -> Alert | None:
    """The alert picker, bound to ``?id=`` so that a message's link opens its alert."""
    if not shown.alerts:
        return None
    by_id = {a.id: a for a in shown.alerts}
    chosen = url_select(
        st.selectbox,
        "Alert",
        list(by_id),
        param="id",
        key="alert_id",
        refused=lambda i: f"No alert {i} in {period} among the alerts you may see.",
        format_func=lambda i: f"{i} · {by_id[i].team or 'finance'} · {by_id[i].title}",
    )
    return by_id[chosen]


shown = team_filter(view)
st.title(f"Alerts {period}")
open_alerts = [a for a in shown.alerts if shown.states[a.id].status == OPEN]
st.metric("Open alerts", f"{len(open_alerts)}", help="Neither acknowledged nor dismissed.")
budget_table(shown.budgets)
st.subheader("Anomalies and budget alerts")
show_closed = url_toggle("Show acknowledged and dismissed", param="closed", key="alert_closed")
listed = list(shown.alerts) if show_closed else open_alerts
if listed:
    Table(alerts_rm.alert_frame(shown, listed), LIST_COLUMNS, currency).show_text(
        "csv_alerts", f"alerts-{period}.csv"
    )
else:
    st.info("No open alerts for this selection.")
chosen = pick_alert(shown)
if chosen is not None:
    show_alert(chosen)
