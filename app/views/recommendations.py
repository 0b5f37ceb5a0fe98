"""Recommendations page: what to change, what it saves, the evidence; acknowledge or dismiss.

Period, team, kinds and whether closed ones show live in the URL
(``/recommendations?period=2026-09&team=nlp``), so the e-mails' links open the team's view.
"""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.errors import GpuledgerError
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.recs import (
    ACTIONS,
    STATUS,
    RecsView,
    evidence_sentences,
    team_recs,
)
from gpuledger.schema import Rec
from ledger_ui import (
    Table,
    for_display,
    money,
    period_picker,
    session,
    team_refusal,
    url_multiselect,
    url_select,
    url_toggle,
)
from plain import plain

ALL_TEAMS = ""
FLASH = "rec_flash"  # session state: the outcome of the last status change, shown once
LIST_COLUMNS = {
    Rec.id: "Id",
    Rec.kind: "Kind",
    STATUS: "Status",
    Rec.monthly_saving: "Saving/mo",
    Rec.action: "Action",
    Rec.team: "Team",
    Rec.model: "Model",
    Rec.monthly_cost: "Cost/mo",
    Rec.confidence: "Confidence",
}
OUTCOME_COLUMNS = {
    "id": "Id",
    "kind": "Kind",
    "done_in": "Done in",
    "estimated_saving": "Estimated/mo",
    "realized_saving": "Realized/mo",
    Rec.team: "Team",
}

ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
period = info.period
mine = readmodel.recommendations(ledger, period, viewer)
currency = mine.currency


def team_filter(recs: RecsView) -> RecsView:
    """The team picker (``?team=``): all the viewer's teams, or one of them."""
    configured = set(ledger.settings().teams) | set(recs.rows[Rec.team].drop_nulls().to_list())
    teams = sorted(team for team in configured if viewer.sees(team))
    team = url_select(
        st.sidebar.selectbox,
        "Team",
        [ALL_TEAMS, *teams],
        param="team",
        key="rec_team",
        refused=team_refusal(viewer, recs.period),
        format_func=lambda t: t or "All teams",
    )
    return team_recs(recs, team or None)


def change_status() -> None:
    """The form's callback: runs before the page, so headline and table show the new status."""
    state = st.session_state
    try:
        status = readmodel.change_status(
            ledger,
            period,
            viewer,
            str(state["rec_id"]),
            str(state["rec_action"]),
            state.get("rec_reason") or None,
        )
    except GpuledgerError as error:
        state[FLASH] = ("error", str(error))
    else:
        state[FLASH] = ("success", f"{state['rec_id']}: {status}")
        state["rec_reason"] = ""


def act_on(rows: pl.DataFrame) -> None:
    """One recommendation's evidence, and the status form (dismissing needs a reason)."""
    st.subheader("Evidence and action")
    by_id = {row[Rec.id]: row for row in rows.to_dicts()}
    rec_id = st.selectbox(
        "Recommendation",
        list(by_id),
        key="rec_id",
        format_func=lambda i: (
            f"{i} · {by_id[i][Rec.team]} · {money(by_id[i][Rec.monthly_saving], currency)}/month"
        ),
    )
    row = by_id[str(rec_id)]
    st.markdown(
        f"**{plain(row[Rec.action])}** — status *{plain(row[STATUS])}*,"
        f" confidence {plain(row[Rec.confidence])}"
    )
    st.caption("Instances: " + (", ".join(map(plain, row[Rec.resource_ids] or [])) or "—"))
    sentences = evidence_sentences(row[Rec.evidence], currency)
    st.markdown("\n".join(f"- {plain(sentence)}" for sentence in sentences))
    with st.form("status_form"):
        st.radio("Set status", list(ACTIONS), horizontal=True, key="rec_action")
        st.text_input("Reason (required to dismiss)", key="rec_reason")
        st.form_submit_button("Save", on_click=change_status)
        flash = st.session_state.pop(FLASH, None)
        if flash is not None:
            (st.error if flash[0] == "error" else st.success)(plain(flash[1]))


def outcomes(view: RecsView) -> None:
    st.subheader("Done: estimated vs realized")
    if view.outcomes.is_empty():
        st.caption("Nothing marked done before this month yet.")
        return
    long = for_display(view.outcomes).unpivot(
        index=Rec.id, on=["estimated_saving", "realized_saving"], variable_name="saving"
    )
    chart = (
        alt.Chart(long.to_pandas())
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=f"monthly saving ({currency})"),
            y=alt.Y(f"{Rec.id}:N", title=None),
            yOffset="saving:N",
            color=alt.Color("saving:N", title=None),
            tooltip=[Rec.id, "saving", alt.Tooltip("value:Q", format=",.2f")],
        )
    )
    st.altair_chart(chart, width="stretch")
    Table(view.outcomes, OUTCOME_COLUMNS, currency).with_total().show_grid(
        "csv_outcomes", f"recommendation-outcomes-{view.period}.csv"
    )


view = team_filter(mine)
st.title(f"Recommendations {view.period}")
st.metric(
    "Open monthly saving",
    money(view.open_saving, currency),
    help="Neither dismissed nor done, each instance counted once: of two findings on the same"
    " instances (spot or rightsize, distill or commit) only the larger saving counts.",
)
kinds = sorted(set(view.rows[Rec.kind].to_list()))
chosen = url_multiselect("Kinds", kinds, param="kind", key="rec_kinds")
show_closed = url_toggle("Show dismissed and done", param="closed", key="rec_closed")
shown = view.rows.filter(pl.col(Rec.kind).is_in(chosen))
if not show_closed:
    shown = shown.filter(~pl.col(STATUS).is_in(["dismissed", "done"]))
Table(shown, LIST_COLUMNS, currency).show_text("csv_recs", f"recommendations-{view.period}.csv")
st.caption(
    "No total row: findings on the same instances overlap; the open saving above counts each"
    " instance once."
)
if shown.is_empty():
    st.info("No recommendations to show for this selection.")
else:
    act_on(shown)
outcomes(view)
