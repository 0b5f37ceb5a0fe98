"""Data health page (finance): sources, periods, quarantine, GPUs without telemetry, telemetry
without a billed instance, coverage.

Every table has readable columns, "—" for what is missing, a total row where its numbers add up
and a CSV button; amounts in several currencies are shown as one table per currency.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl
import streamlit as st

from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.health import BASIS, INVOICE, MONTH_STATUS, SHARE
from gpuledger.report.readmodel.waste import instance_name
from gpuledger.schema import Alloc, Cost, Quarantine
from ledger_ui import Table, for_display, money, percent, session
from plain import plain

INSTANCE = "instance"

ledger, viewer = session()
view = readmodel.health(ledger, viewer)
health = view.health
currency = ledger.settings().reporting.currency


def by_currency(
    frame: pl.DataFrame,
    columns: dict[str, str],
    currency_column: str,
    key: str,
    shares: Sequence[str] = (),
    wide: Sequence[str] = (),
) -> None:
    """``frame`` as one table per currency, each with its total row and CSV button.

    Amounts in different currencies never share a column total.
    """
    for (code,), part in sorted(frame.partition_by(currency_column, as_dict=True).items()):
        suffix = "" if frame[currency_column].n_unique() == 1 else f"-{code}"
        if suffix:
            st.caption(f"In {plain(code)}")
        Table(part, columns, str(code or currency), shares).with_total().show_grid(
            f"csv_{key}{suffix}", f"{key}{suffix}.csv", wide=wide
        )


st.title("Data health")

st.subheader("Sources and their last ingest")
if view.sources.is_empty():
    st.info("Nothing ingested yet.")
else:
    Table(
        view.sources,
        {
            "source": "Source",
            "status": "Status",
            "started_at": "Last ingest",
            "rows": "Rows",
            "quarantined": "Quarantined",
            "src": "From",
            "message": "Message",
        },
        currency,
    ).with_total().show_grid("csv_sources", "sources.csv", wide=["src", "message"])

st.subheader("Periods")
if view.partitions.is_empty():
    st.caption("No billing data.")
else:
    by_currency(
        view.partitions,
        {
            Cost.x_BillingPeriod: "Month",
            MONTH_STATUS: "Month status",
            Cost.x_Source: "Source",
            Cost.ProviderName: "Provider",
            Cost.BillingAccountId: "Account",
            INVOICE: "Invoice",
            "rows": "Rows",
            "effective_cost": "Effective cost",
            "billed_cost": "Billed cost",
        },
        "currency",
        "periods",
    )
    st.caption(
        "Month status: closed (statements frozen), invoiced (every account's invoice is final),"
        " final (usage data reaches the month's end) or provisional (costs may still arrive)."
    )

st.subheader("Quarantined rows")
if view.quarantine.is_empty():
    st.caption("None: every row of every source was accepted.")
else:
    st.metric("Quarantined rows", f"{view.quarantine['rows'].sum():,}")
    quarantine = view.quarantine.with_columns(
        pl.col(Quarantine.cost).cast(pl.String).alias(Quarantine.cost)
    )
    Table(
        quarantine,
        {
            Quarantine.x_Source: "Source",
            Quarantine.x_BillingPeriod: "Month",
            Quarantine.reason: "Reason",
            "rows": "Rows",
            Quarantine.cost: "Cost (source currency)",
        },
        currency,
    ).with_total().show_grid("csv_quarantine", "quarantine.csv", wide=[Quarantine.reason])
    st.caption("Rows stay in the store's quarantine; fix the source and ingest it again.")

st.subheader("GPU instances without telemetry")
if view.untracked_gpus.is_empty():
    st.caption("Every billed GPU instance sent telemetry.")
else:
    basis = ledger.settings().reporting.cost_basis
    untracked = view.untracked_gpus.with_columns(
        pl.col(Cost.ResourceId)
        .map_elements(lambda rid: instance_name(rid, None), return_dtype=pl.String)
        .alias(INSTANCE)
    )
    by_currency(
        untracked,
        {
            Cost.x_BillingPeriod: "Month",
            INSTANCE: "Instance",
            basis: "Cost",
            Cost.x_GpuModel: "GPU model",
            Cost.x_GpuCount: "GPUs",
            Cost.x_InstanceType: "Instance type",
            Cost.ProviderName: "Provider",
            Cost.ResourceId: "Instance id",
        },
        Cost.BillingCurrency,
        "untracked-gpus",
        wide=[Cost.ResourceId],
    )

st.subheader("Telemetry with no billed instance")
if view.unbilled_telemetry.is_empty():
    st.caption("All telemetry names the instance it was billed as.")
else:
    Table(
        view.unbilled_telemetry,
        {"host": "Host", "source": "Source", "periods": "Months", "gpu_hours": "GPU-hours"},
        currency,
    ).with_total().show_grid("csv_unbilled", "telemetry-without-instance.csv")
    st.caption(
        "These hosts' GPU-hours split no bill: map each host to its ResourceId in"
        " `[telemetry.hosts]`, or let kube-state-metrics export `kube_node_info`."
    )

st.subheader("Telemetry gaps")
if view.telemetry_gaps.is_empty():
    st.caption("Every reporting GPU instance sent telemetry in each hour it was billed.")
else:
    by_currency(
        view.telemetry_gaps,
        {
            Alloc.x_BillingPeriod: "Month",
            "instances": "Instances",
            "instance_hours": "Instance-hours",
            "gpu_hours": "GPU-hours",
            "cost": "Cost",
        },
        Alloc.currency,
        "telemetry-gaps",
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
    by_currency(
        view.coverage,
        {
            Alloc.x_BillingPeriod: "Month",
            BASIS: "Attributed by",
            Alloc.cost: "Cost",
            SHARE: "Share of the month",
        },
        Alloc.currency,
        "attribution",
        shares=[SHARE],
    )
    unallocated = view.coverage.filter(pl.col(BASIS) == "unallocated")
    for row in unallocated.to_dicts():
        st.caption(
            plain(
                f"{row[Alloc.x_BillingPeriod]}: {money(row[Alloc.cost], row[Alloc.currency])}"
                f" unallocated ({percent(row[SHARE])})"
            )
        )

st.subheader("Tables")
if view.tables.is_empty():
    st.caption("No table written yet.")
else:
    Table(
        view.tables.with_columns(
            pl.when(pl.col("needs_maintenance"))
            .then(pl.lit("yes"))
            .otherwise(pl.lit("no"))
            .alias("needs_maintenance")
        ),
        {
            "table": "Table",
            "files": "Files",
            "small_files": "Small files",
            "bytes": "Bytes",
            "needs_maintenance": "Needs maintenance",
            "last_maintained": "Last maintained",
        },
        currency,
    ).with_total().show_grid("csv_tables", "tables.csv")
    for row in view.tables.filter(pl.col("needs_maintenance")).to_dicts():
        st.warning(
            f"{row['table']}: {row['small_files']:,} small files slow scans down;"
            f" run `gpuledger maintain --table {row['table']}`."
        )
    st.caption("Last maintained: when `gpuledger maintain` last compacted and vacuumed the table.")

if health.unconfigured_teams:
    st.warning("Teams not in the config: " + ", ".join(map(plain, health.unconfigured_teams)))
st.caption(f"Reporting currency: {plain(currency)}")
