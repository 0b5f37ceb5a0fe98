"""What every page shares: the ledger and viewer of this session, the month picker, money formats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import streamlit as st

from access import current_viewer
from gpuledger.engine.chargeback.rounding import minor_unit
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.cached import Ledger
from gpuledger.report.readmodel.chargeback import PeriodInfo

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
PRESETS = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}  # the table widget's money formats
PERIOD_KEY = "period"


def session() -> tuple[Ledger, Viewer]:
    """The ledger this app serves and the viewer of this session (checked on every run)."""
    ledger = Ledger.from_env()
    return ledger, current_viewer(ledger.settings())


def money(amount: Decimal | float | None, currency: str) -> str:
    """An amount in the reporting currency, with its minor unit: ``$1,234.50``, ``-€3.10``."""
    if amount is None:
        return "—"
    places = -int(minor_unit(currency).as_tuple().exponent)
    text = f"{abs(Decimal(str(amount))):,.{places}f}"
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def money_column(label: str, currency: str, help: str | None = None) -> Any:
    """A table column of amounts in ``currency``, formatted as money, sorted as numbers."""
    preset = PRESETS.get(currency)
    if preset is None:
        places = -int(minor_unit(currency).as_tuple().exponent)
        preset = f"%.{places}f {currency}"
    return st.column_config.NumberColumn(label, format=preset, help=help)


def hours_column(label: str) -> Any:
    return st.column_config.NumberColumn(label, format="%.1f")


def for_display(frame: pl.DataFrame) -> pl.DataFrame:
    """Decimal amounts as floats for the table widget (values come from the engine unchanged)."""
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))


def period_picker(ledger: Ledger) -> PeriodInfo | None:
    """The month picker in the sidebar, shared by every page (closed months marked)."""
    found = readmodel.periods(ledger)
    if not found:
        st.info("The ledger holds no billing data yet. Run `gpuledger ingest …` first.")
        return None
    by_period = {info.period: info for info in found}
    if st.session_state.get(PERIOD_KEY) not in by_period:
        st.session_state[PERIOD_KEY] = found[0].period
    chosen = st.sidebar.selectbox(
        "Month",
        list(by_period),
        key=PERIOD_KEY,
        format_func=lambda p: by_period[p].label,
    )
    return by_period[str(chosen)]


def money_table(frame: pl.DataFrame, labels: dict[str, str], currency: str) -> Any:
    """Chosen columns under people's labels, amounts as money text, the first column as index.

    For ``st.table``: it renders as page text, so the numbers are readable and searchable.
    """
    shown = {
        labels[name]: [
            money(value, currency) if frame.schema[name].is_decimal() else value
            for value in frame[name].to_list()
        ]
        for name in labels
    }
    first = next(iter(labels.values()))
    return pl.DataFrame(shown).to_pandas().set_index(first)
