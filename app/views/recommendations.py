"""Recommendations page: what to change, what it saves, the evidence; acknowledge or dismiss."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.errors import GpuledgerError
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.recs import ACTIONS, STATUS
from gpuledger.schema import Rec
from ledger_ui import for_display, money, money_column, period_picker, session

ledger, viewer = session()
info = period_picker(ledger)
if info is None:
    st.stop()
view = readmodel.recommendations(ledger, info.period, viewer)
currency = view.currency
LIST_COLUMNS = [
    Rec.id,
    Rec.kind,
    STATUS,
    Rec.team,
    Rec.model,
    Rec.monthly_saving,
    Rec.monthly_cost,
    Rec.confidence,
    Rec.action,
]
AMOUNTS = {
    Rec.monthly_saving: money_column("Saving / month", currency),
    Rec.monthly_cost: money_column("Cost / month", currency),
    "estimated_saving": money_column("Estimated", currency),
    "realized_saving": money_column("Realized", currency),
}

st.title(f"Recommendations {view.period}")
st.metric(
    "Open monthly saving",
    money(view.open_saving, currency),
    help="Neither dismissed nor done, each instance counted once: of two findings on the same"
    " instances (spot or rightsize, distill or commit) only the larger saving counts.",
)
kinds = sorted(set(view.rows[Rec.kind].to_list()))
chosen = st.multiselect("Kinds", kinds, default=kinds, key="rec_kinds")
show_closed = st.toggle("Show dismissed and done", value=False, key="rec_closed")
shown = view.rows.filter(pl.col(Rec.kind).is_in(chosen))
if not show_closed:
    shown = shown.filter(~pl.col(STATUS).is_in(["dismissed", "done"]))
st.dataframe(for_display(shown.select(LIST_COLUMNS)), hide_index=True, column_config=AMOUNTS)


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
    st.markdown(f"**{row[Rec.action]}** — status *{row[STATUS]}*, confidence {row[Rec.confidence]}")
    st.caption("Instances: " + ", ".join(row[Rec.resource_ids] or []))
    st.code(row[Rec.evidence], language="json")
    with st.form("status_form"):
        action = st.radio("Set status", list(ACTIONS), horizontal=True, key="rec_action")
        reason = st.text_input("Reason (required to dismiss)", key="rec_reason")
        if st.form_submit_button("Save"):
            try:
                status = readmodel.change_status(
                    ledger, view.period, viewer, str(rec_id), str(action), reason or None
                )
            except GpuledgerError as error:
                st.error(str(error))
            else:
                st.success(f"{rec_id}: {status}")


if shown.is_empty():
    st.info("No recommendations to show for this selection.")
else:
    act_on(shown)

st.subheader("Done: estimated vs realized")
if view.outcomes.is_empty():
    st.caption("Nothing marked done before this month yet.")
else:
    outcomes = for_display(view.outcomes)
    long = outcomes.unpivot(
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
    st.dataframe(outcomes, hide_index=True, column_config=AMOUNTS)
