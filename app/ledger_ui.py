"""What every page shares: the ledger and viewer, URL-bound pickers, money formats, tables.

The view a page shows lives in its URL: each picker is bound to a query parameter
(``?period=2026-09&team=nlp``), takes its value from a link that names one, and writes its value
back when it changes, so any view can be shared and every link opens exactly that view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, Final

import polars as pl
import streamlit as st

from access import current_viewer
from gpuledger.engine.chargeback.rounding import minor_unit
from gpuledger.report.readmodel import cached as readmodel
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.cached import Ledger
from gpuledger.report.readmodel.chargeback import PeriodInfo
from plain import plain, plain_cell

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
PRESETS = {"USD": "dollar", "EUR": "euro", "JPY": "yen"}  # the table widget's money formats
PERIOD_KEY = "period"
MISSING = "—"
TOTAL = "Total"
PUBLISHED = "_url_published"  # session state: widget key → the value it last wrote to the URL
SESSION = "_ledger_session"  # session state: this run's (ledger, viewer), taken by Home.py

Refusal = Callable[[str], str]


def open_session() -> tuple[Ledger, Viewer]:
    """The ledger as it is at this run, and the viewer of this session (checked on every run).

    ``Home.py`` calls this first on every run, before the page's script; the page reads the same
    pair through :func:`session`, so a run looks at the ledger once.
    """
    ledger = Ledger.from_env().now()
    viewer = current_viewer(ledger.settings())
    st.session_state[SESSION] = (ledger, viewer)
    return ledger, viewer


def session() -> tuple[Ledger, Viewer]:
    """What :func:`open_session` took at the start of this run."""
    taken: tuple[Ledger, Viewer] | None = st.session_state.get(SESSION)
    return taken if taken is not None else open_session()


# URL state ---------------------------------------------------------------------------------------


def _published() -> dict[str, object]:
    published: dict[str, object] = st.session_state.setdefault(PUBLISHED, {})
    return published


def _adopt(key: str, asked: object, valid: object, default: object, refusal: str | None) -> None:
    """Set the widget ``key``'s state before it is drawn: from the URL when a link changed it.

    A URL value differing from what this widget last wrote there comes from a link or an edited
    address: it wins (or, when not offered here, the default wins with ``refusal`` shown). A URL
    without the parameter (a page switch drops it) keeps what the session chose.
    """
    published = _published()
    if asked is not None and asked != published.get(key):
        if refusal is not None:
            st.warning(plain(refusal))  # it repeats what the link asked for
        st.session_state[key] = valid if refusal is None else default
        return
    current = st.session_state.get(key, published.get(key))
    st.session_state[key] = default if current is None else current


def url_choice(
    param: str, key: str, options: Sequence[str], default: str, refused: Refusal | None = None
) -> None:
    """Prepare the single-choice widget ``key`` from ``?param=`` (call just before drawing it)."""
    asked = st.query_params.get(param)
    refusal = None
    if asked is not None and asked not in options:
        refusal = refused(asked) if refused else f"{asked} is not offered here; showing {default}."
    _adopt(key, asked, asked, default, refusal)
    if st.session_state[key] not in options:
        st.session_state[key] = default


def publish(param: str, key: str, value: str | list[str] | None) -> None:
    """Write a widget's value to ``?param=`` (None or empty removes it)."""
    _published()[key] = value
    if not value:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get_all(param) != (value if isinstance(value, list) else [value]):
        st.query_params[param] = value


def url_select(
    widget: Callable[..., Any],
    label: str,
    options: Sequence[str],
    *,
    param: str,
    key: str,
    default: str | None = None,
    refused: Refusal | None = None,
    **kwargs: Any,
) -> str:
    """A single-choice widget (``st.selectbox``, ``st.radio``, ``st.sidebar.…``) bound to ``?param=``.

    The first option is the default unless ``default`` says otherwise; choosing the empty option
    (e.g. "all teams") removes the parameter.
    """
    url_choice(param, key, options, options[0] if default is None else default, refused)
    chosen = str(widget(label, list(options), key=key, **kwargs))
    publish(param, key, chosen)
    return chosen


def url_multiselect(label: str, options: Sequence[str], *, param: str, key: str) -> list[str]:
    """A multiselect bound to repeated ``?param=a&param=b``; all options (the default) clear it."""
    asked = st.query_params.get_all(param) or None
    valid = [value for value in asked or [] if value in options]
    refusal = None
    if asked is not None and len(valid) < len(asked):
        refusal = f"{', '.join(sorted(set(asked) - set(valid)))} is not offered here."
    published = _published()
    untouched = st.session_state.get(key) == published.get(f"{key}#shown")
    _adopt(key, asked, valid, list(options), refusal)
    if asked is None and untouched and key in published and published[key] is None:
        st.session_state[key] = list(options)  # "all" stays all when the options change
    st.session_state[key] = [value for value in st.session_state[key] if value in options]
    chosen = st.multiselect(label, list(options), key=key)
    publish(param, key, None if set(chosen) == set(options) else chosen)
    published[f"{key}#shown"] = chosen
    return chosen


def url_toggle(label: str, *, param: str, key: str) -> bool:
    """A toggle bound to ``?param=1`` (off removes it)."""
    asked = st.query_params.get(param)
    _adopt(key, asked, asked == "1", False, None)
    on = st.toggle(label, key=key)
    publish(param, key, "1" if on else None)
    return on


def period_picker(ledger: Ledger) -> PeriodInfo | None:
    """The month picker in the sidebar, bound to ``?period=`` (closed months marked)."""
    found = readmodel.periods(ledger)
    if not found:
        st.info("The ledger holds no billing data yet. Run `gpuledger ingest …` first.")
        return None
    by_period = {info.period: info for info in found}
    chosen = url_select(
        st.sidebar.selectbox,
        "Month",
        list(by_period),
        param="period",
        key=PERIOD_KEY,
        refused=lambda p: f"The ledger holds no data for {p}; showing {found[0].period}.",
        format_func=lambda p: by_period[p].label,
    )
    return by_period[chosen]


def team_refusal(viewer: Viewer, period: str) -> Refusal:
    """What a page says when a link names a team it does not show this viewer.

    A team lead is told the same for a team that exists and one that does not.
    """
    if viewer.finance:
        return lambda team: f"No team {team} in {period}."
    return lambda team: f"Team {team} is not among the teams you may see."


# numbers -----------------------------------------------------------------------------------------


def money(amount: Decimal | float | None, currency: str) -> str:
    """An amount in the reporting currency, with its minor unit: ``$1,234.50``, ``-€3.10``."""
    if amount is None:
        return MISSING
    places = -int(minor_unit(currency).as_tuple().exponent)
    text = f"{abs(Decimal(str(amount))):,.{places}f}"
    sign = "-" if amount < 0 else ""
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency}"


def percent(share: float | None) -> str:
    """A share to one decimal, as every page shows shares: ``12.5%``."""
    return MISSING if share is None else f"{share:.1%}"


def hours(value: float | None) -> str:
    return MISSING if value is None else f"{value:,.1f}"


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


# tables ------------------------------------------------------------------------------------------


STYLED_ROWS: Final = 1_000  # rows a grid formats cell by cell in Python (see Table.show_grid)


class Table:
    """A table as people read it: labelled columns, money and "—" as text, a total row, CSV.

    ``columns`` maps frame columns to labels, in order; the first is the key column. Decimal
    columns are money in ``currency``, float columns hours, integer columns counts, the rest
    text; ``shares`` names float columns that are shares (shown as percentages, never summed).
    """

    def __init__(
        self,
        frame: pl.DataFrame,
        columns: dict[str, str],
        currency: str,
        shares: Sequence[str] = (),
    ) -> None:
        self.frame = frame.select(list(columns))
        self.columns = columns
        self.currency = currency
        self.shares = tuple(shares)

    @property
    def key(self) -> str:
        return next(iter(self.columns))

    def with_total(self, **derived: pl.Expr) -> Table:
        """The table with a last "Total" row: exact sums of its amounts and counts ("—" where
        none, and for shares).

        ``derived`` gives a column of the total row as an expression over the sums instead.
        """
        summed = [
            pl.when(pl.col(name).is_not_null().any()).then(pl.col(name).sum()).alias(name)
            for name, dtype in self.frame.schema.items()
            if name != self.key and dtype.is_numeric() and name not in self.shares
        ]
        sums = self.frame.select(pl.lit(TOTAL).alias(self.key), *summed)
        sums = sums.with_columns(
            expression.cast(sums.schema[name]).alias(name) for name, expression in derived.items()
        )
        return Table(
            pl.concat([self.frame, sums], how="diagonal_relaxed"),
            self.columns,
            self.currency,
            self.shares,
        )

    def formatter(self, dtype: pl.DataType) -> Callable[[Any], str]:
        """Money for decimals, hours for floats, counts with separators, text as it is."""
        if dtype.is_decimal():
            return partial(money, currency=self.currency)
        if dtype.is_float():
            return hours
        if dtype.is_integer():
            return "{:,}".format
        return str

    def column_formatter(self, name: str, dtype: pl.DataType) -> Callable[[Any], str]:
        """:meth:`formatter`, or a percentage for a column of shares."""
        return percent if name in self.shares else self.formatter(dtype)

    def text(self) -> pl.DataFrame:
        """Every cell as it is shown: money with currency and separators, "—" for missing.

        Text from the data is escaped (:func:`plain.plain_cell`): ``st.table`` renders cells as
        Markdown.
        """
        return self.frame.select(
            (
                pl.col(name).map_elements(
                    self.column_formatter(name, dtype), return_dtype=pl.String, skip_nulls=True
                )
                if dtype.is_numeric()
                else pl.col(name)
                .cast(pl.String)
                .map_elements(plain_cell, return_dtype=pl.String, skip_nulls=True)
            )
            .fill_null(MISSING)
            .alias(self.columns[name])
            for name, dtype in self.frame.schema.items()
        )

    def csv(self) -> bytes:
        """The table under its labels, amounts as exact decimal strings."""
        return self.frame.rename(self.columns).write_csv().encode()

    def show_text(self, key: str, file_name: str) -> None:
        """As page text (``st.table``: never cut off, searchable), with a CSV button."""
        st.table(self.text().to_pandas().set_index(self.columns[self.key]))
        self.download(key, file_name)

    def show_grid(self, key: str, file_name: str, wide: Sequence[str] = ()) -> None:
        """As a sortable grid: numbers stay numbers, shown formatted; the key column pinned.

        ``wide`` columns (long text such as an action) get a large width, so they are read whole.
        Up to :data:`STYLED_ROWS` rows the cells are formatted as :meth:`text` formats them; a
        longer table is formatted by the grid itself (the same money, hours and shares, without
        thousands separators on hours and counts), as formatting each cell in Python costs about
        0.1 ms: 2.4 s for the 24 k rows of memory headroom on the 4× benchmark store.
        """
        shown = for_display(self.frame).with_columns(pl.col(pl.String).fill_null(MISSING))
        styled = self.frame.height <= STYLED_ROWS
        data: Any = shown.to_pandas()
        if styled:
            formats = {n: self.column_formatter(n, dtype) for n, dtype in self.frame.schema.items()}
            data = data.style.format(formats, na_rep=MISSING)
        config: dict[str, Any] = {}
        for name, label in self.columns.items():
            dtype = self.frame.schema[name]
            if styled or not dtype.is_numeric():
                config[name] = st.column_config.Column(
                    label, pinned=name == self.key, width="large" if name in wide else None
                )
            else:
                config[name] = self.number_column(name, label, dtype)
        st.dataframe(data, hide_index=True, column_config=config)
        self.download(key, file_name)

    def number_column(self, name: str, label: str, dtype: pl.DataType) -> Any:
        """A numeric column the grid formats: money, shares, hours or counts."""
        if name in self.shares:
            return st.column_config.NumberColumn(label, format="percent")
        if dtype.is_decimal():
            return money_column(label, self.currency)
        if dtype.is_float():
            return hours_column(label)
        return st.column_config.NumberColumn(label, format="%d")

    def download(self, key: str, file_name: str) -> None:
        st.download_button(
            "CSV",
            data=self.csv,
            file_name=file_name,
            mime="text/csv",
            key=key,
            icon=":material/download:",
        )
