"""On-prem page (finance): each on-prem cluster's cost per GPU-hour beside the cloud's price.

The month lives in the URL (``/onprem?period=2026-10``). Per cluster: what it cost (hardware and
fixed costs, energy, the energy estimated for hours without telemetry), how its GPU-hours were
used, and the rates — per billed and per used GPU-hour — next to the lowest on-demand price per
GPU of the same GPU in the cloud regions the company uses.
"""

from __future__ import annotations

import streamlit as st

from gpuledger.report.readmodel import cached
from gpuledger.report.readmodel import onprem as onprem_rm
from ledger_ui import Table, money, period_picker, session

ledger, viewer = session()
viewer.require_finance("on-prem costs")


info = period_picker(ledger)
if info is None:
    st.stop()
view = cached.onprem(ledger, info.period, viewer)
currency = ledger.settings().reporting.currency

st.title("On-prem clusters")
if view.clusters.is_empty():
    st.info(
        f"No on-prem cluster was priced for {info.period}. Describe each cluster under "
        "`[[clusters]]` in the config and run `gpuledger ingest onprem --period "
        f"{info.period}`."
    )
    st.stop()

for row in view.clusters.iter_rows(named=True):
    cloud = row[onprem_rm.CLOUD_RATE]
    used = row[onprem_rm.USED_RATE]
    columns = st.columns(3)
    columns[0].metric(
        f"{row[onprem_rm.CLUSTER]}: per GPU-hour",
        money(row[onprem_rm.RATE], row[onprem_rm.CURRENCY]),
    )
    columns[1].metric("Per used GPU-hour", money(used, row[onprem_rm.CURRENCY]))
    columns[2].metric(
        f"Cloud on demand, {row[onprem_rm.GPU_MODEL]}",
        money(cloud, row[onprem_rm.CURRENCY]),
        help=row[onprem_rm.CLOUD_INSTANCE] or "No cloud price for this GPU in the price book.",
    )

st.subheader("Rates per GPU-hour")
Table(
    view.clusters,
    {
        onprem_rm.CLUSTER: "Cluster",
        onprem_rm.GPU_MODEL: "GPU model",
        onprem_rm.HARDWARE_RATE: "Hardware and fixed",
        onprem_rm.ENERGY_RATE: "Energy",
        onprem_rm.RATE: "Total",
        onprem_rm.USED_RATE: "Total per used GPU-hour",
        onprem_rm.CLOUD_RATE: "Cloud on demand",
        onprem_rm.CLOUD_INSTANCE: "Cloud instance",
    },
    currency,
).show_grid("csv_onprem_rates", "onprem-rates.csv", wide=[onprem_rm.CLOUD_INSTANCE])
st.caption(
    "Per GPU-hour: the month's cost over every billed GPU-hour. Per used GPU-hour: over the "
    "GPU-hours workloads used (telemetry), so idle capacity raises it. Cloud on demand: the "
    "lowest on-demand price per GPU of the same GPU in the price book, in the regions the "
    "month's cloud GPU instances run in."
)

st.subheader("Cost")
Table(
    view.clusters,
    {
        onprem_rm.CLUSTER: "Cluster",
        onprem_rm.HOSTS: "Hosts",
        onprem_rm.HARDWARE: "Hardware and fixed",
        onprem_rm.ENERGY: "Energy",
        onprem_rm.ESTIMATED: "of which estimated",
        onprem_rm.TOTAL: "Total",
    },
    currency,
).with_total().show_grid("csv_onprem_cost", "onprem-cost.csv")
st.caption(
    "Hardware and fixed: the purchase amortized over its months, support and colocation. "
    "Energy: measured GPU power × hours × PUE × the price per kWh; hours without telemetry are "
    "estimated from the configured idle power and flagged."
)

st.subheader("GPU-hours")
Table(
    view.clusters,
    {
        onprem_rm.CLUSTER: "Cluster",
        onprem_rm.GPU_HOURS: "Billed",
        onprem_rm.USED: "Used",
        onprem_rm.IDLE: "Idle",
        onprem_rm.UNREPORTED: "No telemetry",
    },
    currency,
).with_total().show_grid("csv_onprem_hours", "onprem-gpu-hours.csv")
