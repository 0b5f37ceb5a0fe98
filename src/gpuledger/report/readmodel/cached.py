"""The app's one door to the engine: every page reads through here, cached and cut per viewer.

Each read is cached with ``st.cache_data`` under a key made of what the answer depends on: the
version of every Delta table (``Store.versions``), a fingerprint of the state database (closes,
re-opens, recommendation statuses: :func:`state_fingerprint`), a fingerprint of the config file and the question (period,
team, format). New data therefore shows on the next page load without a restart, and an answer
computed from older data is never served for newer data.

The cached answers hold every team. Each public function here takes the viewer, checks the role
and cuts the answer to the viewer's teams after the cache, on the server: whatever a page's
widgets or URL say, a team lead only ever receives their own team's numbers, and one cached
computation serves every viewer (so :func:`warm` can prepare it before anyone signs in).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar

import polars as pl
import streamlit as st

from gpuledger.config import Settings, load_settings
from gpuledger.engine.alerts.model import Alert
from gpuledger.engine.chargeback.explain import Explanation, explain
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.errors import UsageError
from gpuledger.report.readmodel import alerts as alerts_rm
from gpuledger.report.readmodel import breakdown as breakdown_rm
from gpuledger.report.readmodel import chargeback as chargeback_rm
from gpuledger.report.readmodel import health as health_rm
from gpuledger.report.readmodel import onprem as onprem_rm
from gpuledger.report.readmodel import recs as recs_rm
from gpuledger.report.readmodel import waste as waste_rm
from gpuledger.report.readmodel.access import Viewer
from gpuledger.report.readmodel.alerts import AlertsView, MonthAlerts
from gpuledger.report.readmodel.chargeback import ChargebackView, PeriodInfo
from gpuledger.report.readmodel.health import HealthView
from gpuledger.report.readmodel.onprem import OnpremView
from gpuledger.report.readmodel.recs import RecsView
from gpuledger.report.readmodel.waste import FleetWaste, WasteView
from gpuledger.store.delta import Store, resolve_home
from gpuledger.store.state import StateDB
from gpuledger.store.state_sql import TableMark

Fingerprint = tuple[tuple[object, ...], ...]
CACHE = {"show_spinner": False, "max_entries": 256}


@dataclass(frozen=True)
class Ledger:
    """Where the app reads from: the ledger home and the config file, as the CLI resolves them.

    A page run reads through :meth:`now`, which takes the ledger's fingerprint once for all of
    the run's reads (each would otherwise open every Delta table's log again). The pinned
    fingerprint is no dataclass field, so cached answers are keyed the same pinned or not.
    """

    home: str
    config: str | None = None
    _pinned: ClassVar[Fingerprint | None] = None  # set on the instance by now()

    @classmethod
    def from_env(cls) -> Ledger:
        """``GPULEDGER_HOME`` and ``GPULEDGER_CONFIG``, as ``gpuledger app`` passes them on."""
        return cls(resolve_home(None), os.environ.get("GPULEDGER_CONFIG") or None)

    def store(self) -> Store:
        return _store(self.home, self.config)

    def settings(self) -> Settings:
        loaded: Settings = _settings(self.config, _file_fingerprint(self.config))
        return loaded

    def now(self) -> Ledger:
        """This ledger with its fingerprint taken now and kept: what one page run reads under."""
        pinned = Ledger(self.home, self.config)
        object.__setattr__(pinned, "_pinned", self._look())
        return pinned

    def fingerprint(self) -> Fingerprint:
        """What every cached answer depends on; it changes whenever the ledger does."""
        return self._look() if self._pinned is None else self._pinned

    def _look(self) -> Fingerprint:
        store = self.store()
        return (
            *sorted(store.versions().items()),
            *state_fingerprint(store.state),
            ("config", *_file_fingerprint(self.config)),
        )


# The state tables whose rows the pages show or depend on (an absent one counts as empty).
STATE_TABLES = (
    "billing_periods",
    "closed_periods",
    "ingest_runs",
    "period_events",
    "recommendation_events",
    "recommendation_status",
    "statement_documents",
)


def state_fingerprint(state: StateDB) -> tuple[TableMark, ...]:
    """Row count and insertion high-water mark of each of :data:`STATE_TABLES` in the state.

    Every change the pages show adds or removes a row there: a close or re-open
    (``closed_periods``, ``period_events``), a recommendation status (``recommendation_events``),
    an ingest (``ingest_runs``). Reading the database, or a part of gpuledger creating its empty
    tables, leaves this unchanged, unlike the file's timestamps.
    """
    return state.marks(STATE_TABLES)


def _file_fingerprint(path: str | None) -> tuple[int | None, int | None]:
    """(modification time in ns, size) of a file; (None, None) when there is none."""
    if path is None:
        return (None, None)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return (None, None)
    return (stat.st_mtime_ns, stat.st_size)


@st.cache_resource(show_spinner=False)
def _store(home: str, config: str | None) -> Store:
    return Store(home, state=load_settings(config).state)


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _settings(config: str | None, stamp: tuple[int | None, int | None]) -> Settings:
    return load_settings(config)


def settings(ledger: Ledger) -> Settings:
    return ledger.settings()


# periods and chargeback ------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _periods(ledger: Ledger, key: Fingerprint) -> list[PeriodInfo]:
    return chargeback_rm.periods(ledger.store())


def periods(ledger: Ledger) -> list[PeriodInfo]:
    """Months the ledger holds, newest first, closed ones marked."""
    result: list[PeriodInfo] = _periods(ledger, ledger.fingerprint())
    return result


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _statements(ledger: Ledger, key: Fingerprint, period: str) -> Statements:
    return chargeback_rm.statements_of(ledger.store(), ledger.settings(), period)


def chargeback(ledger: Ledger, period: str, viewer: Viewer) -> ChargebackView:
    """The month's statements, cut to the viewer's teams."""
    statements: Statements = _statements(ledger, ledger.fingerprint(), period)
    return chargeback_rm.chargeback_view(statements, viewer)


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _instances(ledger: Ledger, key: Fingerprint, period: str, team: str) -> pl.DataFrame:
    statements = _statements(ledger, key, period)
    return chargeback_rm.instance_costs(statements, ledger.store(), team)


def instance_costs(ledger: Ledger, period: str, viewer: Viewer, team: str) -> pl.DataFrame:
    """One team's allocated cost per model × GPU model × instance (raises AccessDenied)."""
    chargeback_rm.require_instances(viewer, team)
    result: pl.DataFrame = _instances(ledger, ledger.fingerprint(), period, team)
    return result


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _explanation(
    ledger: Ledger, key: Fingerprint, period: str, team: str, line: str
) -> Explanation:
    return explain(ledger.store(), _statements(ledger, key, period), team, line=line)[0]


def line_explanation(
    ledger: Ledger, period: str, viewer: Viewer, team: str, line: str
) -> Explanation:
    """Why the team's line (number or id) is what it is (raises AccessDenied)."""
    chargeback_rm.require_instances(viewer, team)
    result: Explanation = _explanation(ledger, ledger.fingerprint(), period, team, line)
    return result


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _download(ledger: Ledger, key: Fingerprint, period: str, fmt: str) -> bytes:
    return chargeback_rm.download(ledger.store(), ledger.settings(), period, fmt)


def download(ledger: Ledger, period: str, viewer: Viewer, fmt: str) -> bytes:
    """The export ``gpuledger chargeback --format fmt`` writes, byte for byte (finance only)."""
    viewer.require_finance("the chargeback export")
    result: bytes = _download(ledger, ledger.fingerprint(), period, fmt)
    return result


# views: the month grouped any way, and the cost trend ----------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _grouped(ledger: Ledger, key: Fingerprint, period: str, grouping: str) -> pl.DataFrame:
    statements = _statements(ledger, key, period)
    groups = {breakdown_rm.GROUP: breakdown_rm.GROUPINGS[grouping][1]}
    return breakdown_rm.rounded_by_team(
        breakdown_rm.allocation_by(ledger.store(), statements, groups), statements
    )


def grouped(ledger: Ledger, period: str, viewer: Viewer, grouping: str) -> pl.DataFrame:
    """The month's cost and GPU-hours per ``grouping`` (a key of ``GROUPINGS``), viewer's teams."""
    rounded: pl.DataFrame = _grouped(ledger, ledger.fingerprint(), period, grouping)
    return breakdown_rm.by_group(rounded, viewer)


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _daily(ledger: Ledger, key: Fingerprint, period: str) -> pl.DataFrame:
    return breakdown_rm.daily(ledger.store(), _statements(ledger, key, period))


def daily(ledger: Ledger, period: str, viewer: Viewer, by: str) -> pl.DataFrame:
    """The month's cost per day × team or day × model (``by``), the viewer's teams."""
    rounded: pl.DataFrame = _daily(ledger, ledger.fingerprint(), period)
    return breakdown_rm.daily_view(rounded, viewer, by)


def trend(ledger: Ledger, through: str, viewer: Viewer, by: str, months: int = 12) -> pl.DataFrame:
    """Statement totals per month × team or month × model, for the ``months`` through ``through``.

    Months the ledger holds no statements for are left out.
    """
    key = ledger.fingerprint()
    chosen = [info.period for info in _periods(ledger, key) if info.period <= through][:months]
    frames = []
    for period in reversed(chosen):
        try:
            statements = _statements(ledger, key, period)
        except UsageError:  # no billing data, or a stale allocation: its own page says which
            continue
        frames.append(breakdown_rm.monthly(statements, viewer, by))
    return pl.concat(frames) if frames else breakdown_rm.monthly_schema()


# waste -------------------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _waste(ledger: Ledger, key: Fingerprint, period: str) -> FleetWaste:
    return waste_rm.fleet_waste(ledger.store(), ledger.settings(), period)


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _waste_teams(ledger: Ledger, key: Fingerprint, period: str) -> list[str]:
    return waste_rm.fleet_teams(_waste(ledger, key, period))


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _waste_view(
    ledger: Ledger, key: Fingerprint, period: str, shown: tuple[str, ...] | None
) -> WasteView:
    return waste_rm.waste_view(_waste(ledger, key, period), shown)


def waste_teams(ledger: Ledger, period: str, viewer: Viewer) -> list[str]:
    """The month's teams with GPU waste rows that the viewer may see."""
    found: list[str] = _waste_teams(ledger, ledger.fingerprint(), period)
    return [team for team in found if viewer.sees(team)]


def waste(
    ledger: Ledger, period: str, viewer: Viewer, teams: Sequence[str] | None = None
) -> WasteView:
    """The month's GPU waste and hourly utilization for the viewer's teams (those of ``teams``).

    The cut is cached by the teams it shows, decided here from the viewer's role, so a view is
    never served to a viewer who may not see all of its teams.
    """
    key = ledger.fingerprint()
    shown = waste_rm.shown_teams(_waste_teams(ledger, key, period), viewer, teams)
    result: WasteView = _waste_view(ledger, key, period, shown)
    return result


def day_by_hour(view: WasteView) -> pl.DataFrame:
    """Utilization per day × hour of day, over the view's teams."""
    return waste_rm.day_by_hour(view.hourly)


def gpu_by_hour(view: WasteView, day: date) -> pl.DataFrame:
    """One day's utilization per GPU × hour, over the view's teams."""
    return waste_rm.gpu_by_hour(view.hourly, day, view.hosts)


# recommendations -------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _recs(ledger: Ledger, key: Fingerprint, period: str) -> RecsView:
    return recs_rm.all_recs(ledger.store(), ledger.settings(), period)


def recommendations(ledger: Ledger, period: str, viewer: Viewer) -> RecsView:
    """The month's recommendations for the viewer's teams, with realized savings of done ones."""
    recs: RecsView = _recs(ledger, ledger.fingerprint(), period)
    return recs_rm.recs_view(recs, viewer)


def change_status(
    ledger: Ledger, period: str, viewer: Viewer, rec_id: str, action: str, reason: str | None
) -> str:
    """Write a recommendation status as the CLI does; the next read sees it (state changed)."""
    return recs_rm.change_status(
        ledger.store(), ledger.settings(), period, viewer, rec_id, action, reason
    )


# alerts ----------------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _alerts(ledger: Ledger, key: Fingerprint, period: str) -> MonthAlerts:
    return alerts_rm.month_alerts(ledger.store(), ledger.settings(), period)


def alerts(ledger: Ledger, period: str, viewer: Viewer) -> AlertsView:
    """The month's anomalies and budget alerts for the viewer's teams, with their status."""
    month: MonthAlerts = _alerts(ledger, ledger.fingerprint(), period)
    return alerts_rm.alerts_view(month, ledger.store().state, viewer)


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _alert_chart(
    ledger: Ledger, key: Fingerprint, alert: Alert, same_month: tuple[Alert, ...]
) -> pl.DataFrame:
    return alerts_rm.series_chart(ledger.store(), ledger.settings(), alert, same_month)


def alert_chart(ledger: Ledger, alert: Alert, same_month: tuple[Alert, ...]) -> pl.DataFrame:
    """One alert's series with its expected band and marked days (an alert the viewer sees)."""
    chart: pl.DataFrame = _alert_chart(ledger, ledger.fingerprint(), alert, same_month)
    return chart


# on-prem ---------------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _onprem(ledger: Ledger, key: Fingerprint, period: str) -> OnpremView:
    return onprem_rm.onprem_view(ledger.store(), ledger.settings(), period)


def onprem(ledger: Ledger, period: str, viewer: Viewer) -> OnpremView:
    """Each on-prem cluster's cost per GPU-hour beside the cloud's price (finance only)."""
    viewer.require_finance("on-prem costs")
    view: OnpremView = _onprem(ledger, ledger.fingerprint(), period)
    return view


# data health -----------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _health(ledger: Ledger, key: Fingerprint) -> HealthView:
    return health_rm.health_view(ledger.store(), ledger.settings())


def health(ledger: Ledger, viewer: Viewer) -> HealthView:
    """Sources, periods, quarantine, GPUs without telemetry, coverage (finance only)."""
    viewer.require_finance("data health")
    result: HealthView = _health(ledger, ledger.fingerprint())
    return result


def warm(ledger: Ledger) -> None:
    """Compute what the pages of the newest month need, so the first visitor waits for nothing.

    The cache is shared by every viewer (each read is cut per viewer after it), so one warm-up
    serves finance and team leads alike. Recommendations and alerts go first: the engine stores
    recommendations and the daily spend series on their first read, which moves the ledger's
    fingerprint, and every later read must be keyed on the ledger as it is after that.
    """
    found = periods(ledger)
    newest = found[0].period if found else None
    if newest is not None:
        _recs(ledger, ledger.fingerprint(), newest)
        _alerts(ledger, ledger.fingerprint(), newest)  # stores the month's daily series
    key = ledger.fingerprint()
    _periods(ledger, key)
    _health(ledger, key)
    if newest is not None:
        for read in (_statements, _waste, _recs):
            read(ledger, key, newest)
        _waste_teams(ledger, key, newest)
        _alerts(ledger, key, newest)
        _waste_view(ledger, key, newest, None)  # finance's view of every team
        _grouped(ledger, key, newest, "team")
        _daily(ledger, key, newest)
        for info in found[1:12]:  # the trend's earlier months
            try:
                _statements(ledger, key, info.period)
            except UsageError:
                continue
