"""gpuledger's Streamlit app: chargeback for finance; waste, recommendations and alerts for team leads.

Started by ``gpuledger app`` (which passes the ledger home and config through ``GPULEDGER_HOME`` and
``GPULEDGER_CONFIG``). Pages read engine results through :mod:`gpuledger.report.readmodel.cached` only;
the navigation offers the pages the viewer's role covers, and the read model checks the role
again on every read. Every page has its own path (the root opens ``/chargeback``) and keeps its
view in the query string (``ledger_ui``); the sidebar carries a glossary of the app's words.
"""

from __future__ import annotations

import streamlit as st

from access import show_identity
from ledger_ui import open_session

st.set_page_config(page_title="gpuledger", page_icon=":material/payments:", layout="wide")

ledger, viewer = open_session()
chargeback = st.Page("views/chargeback.py", title="Chargeback", icon=":material/receipt_long:")


def open_chargeback() -> None:
    """The app's root opens ``/chargeback`` with its query string, so every page has one path."""
    st.switch_page(
        chargeback, query_params={k: st.query_params.get_all(k) for k in st.query_params}
    )


pages = [
    st.Page(open_chargeback, title="gpuledger", default=True, visibility="hidden"),
    chargeback,
    st.Page("views/waste.py", title="GPU waste", icon=":material/local_fire_department:"),
    st.Page("views/recommendations.py", title="Recommendations", icon=":material/savings:"),
    st.Page("views/alerts.py", title="Alerts", icon=":material/notifications_active:"),
]
if viewer.finance:
    pages.append(st.Page("views/health.py", title="Data health", icon=":material/monitor_heart:"))
    pages.append(st.Page("views/onprem.py", title="On-prem", icon=":material/dns:"))
GLOSSARY = """
**Invoice**: what the cloud bills for the month on the configured cost basis, every service, fee,
tax and credit included.

**Allocated**: the part of the invoice the rules give to teams (tags, GPU telemetry, idle
policy). Invoice = allocated + unallocated, to the cent.

**Unallocated**: the part of the invoice no rule gives to a team (untagged or shared resources);
its own line on every statement, never hidden in a team's total.

**GPU bill**: what the month's GPU instances cost on the invoice (all their billed hours,
busy or not); the base the recommendations' savings are measured against.

**Priced GPU time**: the GPU-hours telemetry saw, each priced at its instance's bill divided by
its billed hours and GPU count; the base of GPU waste. Below the GPU bill when instances were
billed for hours without telemetry.
"""

navigation = st.navigation(pages)
show_identity(ledger.settings(), viewer)
with st.sidebar.expander("Glossary", icon=":material/menu_book:"):
    st.markdown(GLOSSARY)
navigation.run()
