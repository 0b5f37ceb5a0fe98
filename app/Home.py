"""gpuledger's Streamlit app: chargeback for finance, waste and recommendations for team leads.

Started by ``gpuledger app`` (which passes the ledger home and config through ``GPULEDGER_HOME`` and
``GPULEDGER_CONFIG``). Pages read engine results through :mod:`gpuledger.report.readmodel.cached` only;
the navigation offers the pages the viewer's role covers, and the read model checks the role
again on every read.
"""

from __future__ import annotations

import streamlit as st

from access import show_identity
from ledger_ui import session

st.set_page_config(page_title="gpuledger", page_icon=":material/payments:", layout="wide")

ledger, viewer = session()
pages = [
    st.Page(
        "views/chargeback.py", title="Chargeback", icon=":material/receipt_long:", default=True
    ),
    st.Page("views/waste.py", title="GPU waste", icon=":material/local_fire_department:"),
    st.Page("views/recommendations.py", title="Recommendations", icon=":material/savings:"),
]
if viewer.finance:
    pages.append(st.Page("views/health.py", title="Data health", icon=":material/monitor_heart:"))
navigation = st.navigation(pages)
show_identity(ledger.settings(), viewer)
navigation.run()
