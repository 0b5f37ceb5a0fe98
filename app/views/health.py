"""Data health page (finance): sources, periods, quarantine, GPUs without telemetry, telemetry
without a billed instance, coverage."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.health import BASIS, SHARE
from gpuledger.schema import Alloc, Quarantine
from ledger_ui import for_display, money, money_column, session

ledger, viewer = session()
view = readmodel.health(ledger, viewer)
health = view.health
currency = ledger.settings().reporting.currency


def cost_columns(frame: pl.DataFrame, currency_column: str) -> dict[str, Any]:
    """Money format for the amount columns when every row is in the reporting currency."""
    amounts = [name for name, dtype in frame.schema.items() if dtype.is_decimal()]
    if set(frame[currency_column].to_list()) - {currency}:
        return {}  # several currencies: plain numbers next to their currency column
    return {name: money_column(name, currency) for name in amounts}


st.title("Data health")

st.subheader("Sources and their last ingest")
if view.sources.is_empty():
    st.info("Nothing ingested yet.")
else:
    st.dataframe(view.sources, hide_index=True)

st.subheader("Periods")
closed = set(health.closed_periods)
partitions = pl.DataFrame(health.cost_partitions) if health.cost_partitions else pl.DataFrame()
if partitions.is_empty():
    st.caption("No billing data.")
else:
    partitions = partitions.with_columns(
        pl.col("x_BillingPeriod").is_in(sorted(closed)).alias("closed")
    ).select(
        "x_BillingPeriod",
        "closed",
        "invoiced",
        "x_Source",
        "ProviderName",
        "BillingAccountId",
        "rows",
        "currency",
        "billed_cost",
        "effective_cost",
    )
    st.dataframe(partitions, hide_index=True)
st.caption("Closed: " + (", ".join(sorted(closed)) or "none"))

st.subheader("Quarantined rows")
if not health.quarantine:
    st.caption("None: every row of every source was accepted.")
else:
    quarantine = pl.DataFrame(health.quarantine)
    st.metric(
        "Quarantined rows", f"{quarantine['rows'].sum():,}", help="cost is per source currency"
    )
    st.dataframe(quarantine, hide_index=True)
    st.caption(f"Reasons are in column `{Quarantine.reason}`; rows stay in the store's quarantine.")

st.subheader("GPU instances without telemetry")
if view.untracked_gpus.is_empty():
    st.caption("Every billed GPU instance sent telemetry.")
else:
    untracked = view.untracked_gpus
    first = ["x_BillingPeriod", "ResourceId", "x_InstanceType", "x_GpuModel", "x_GpuCount"]
    st.dataframe(
        for_display(untracked.select(*first, pl.exclude(first))),
        hide_index=True,
        column_config=cost_columns(untracked, "BillingCurrency"),
    )

st.subheader("Telemetry with no billed instance")
if view.unbilled_telemetry.is_empty():
    st.caption("All telemetry names the instance it was billed as.")
else:
    st.dataframe(
        view.unbilled_telemetry,
        hide_index=True,
        column_config={"gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.2f")},
    )
    st.caption(
        "These hosts' GPU-hours split no bill: map each host to its ResourceId in"
        " `[telemetry.hosts]`, or let kube-state-metrics export `kube_node_info`."
    )

st.subheader("Telemetry gaps")
if not health.telemetry_gaps:
    st.caption("Every reporting GPU instance sent telemetry in each hour it was billed.")
else:
    st.dataframe(
        pl.DataFrame(health.telemetry_gaps),
        hide_index=True,
        column_config={
            "instance_hours": st.column_config.NumberColumn("Instance-hours", format="%.1f"),
            "gpu_hours": st.column_config.NumberColumn("GPU-hours", format="%.1f"),
        },
    )
    st.caption(
        "Billed hours in which an instance that reports telemetry sent none (agent down). Their"
        " cost is on the owner's `(no telemetry)` lines, not idle, and not in waste."
    )

st.subheader("How cost was attributed")
if view.coverage.is_empty():
    st.caption("No allocation yet: run `gpuledger attribute --period YYYY-MM`.")
else:
    chart = (
        alt.Chart(for_display(view.coverage).to_pandas())
        .mark_bar()
        .encode(
            x=alt.X(
                f"{SHARE}:Q",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
                title="share of cost",
            ),
            y=alt.Y(f"{Alloc.x_BillingPeriod}:N", title=None, sort="descending"),
            color=alt.Color(f"{BASIS}:N", title="attributed by"),
            tooltip=[Alloc.x_BillingPeriod, BASIS, alt.Tooltip(f"{SHARE}:Q", format=".1%")],
        )
    )
    st.altair_chart(chart, width="stretch")
    st.dataframe(
        for_display(view.coverage),
        hide_index=True,
        column_config={
            SHARE: st.column_config.NumberColumn("Share", format="percent"),
            **cost_columns(view.coverage, Alloc.currency),
        },
    )
    unallocated = view.coverage.filter(pl.col(BASIS) == "unallocated")
    for row in unallocated.to_dicts():
        st.caption(
            f"{row[Alloc.x_BillingPeriod]}: {money(row[Alloc.cost], row[Alloc.currency])}"
            f" unallocated ({row[SHARE]:.1%})"
        )

st.subheader("Tables")
if not health.tables:
    st.caption("No table written yet.")
else:
    st.dataframe(pl.DataFrame(health.tables), hide_index=True)
    for row in health.tables:
        if row["needs_maintenance"]:
            st.warning(
                f"{row['table']}: {row['small_files']:,} small files slow scans down;"
                f" run `gpuledger maintain --table {row['table']}`."
            )
    st.caption("`last_maintained` is when `gpuledger maintain` last compacted and vacuumed it.")

if health.unconfigured_teams:
    st.warning("Teams not in the config: " + ", ".join(health.unconfigured_teams))
st.caption(f"Reporting currency: {currency}")
