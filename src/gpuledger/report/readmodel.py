"""The app's one door to the engine: every page reads through here, cached and cut per viewer.

Each read is cached with ``st.cache_data`` under a key made of what the answer depends on: the
version of every Delta table (``Store.versions``), a fingerprint of the SQLite state (closes,
re-opens, recommendation statuses), a fingerprint of the config file, the question (period,
grouping…) and the viewer. New data therefore shows on the next page load without a restart, and
an answer computed from older data is never served for newer data. The functions it caches
(``readmodel_*``) are plain and take a viewer, so the role check happens on the server whatever
the page's widgets or URL say.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import streamlit as st

from gpuledger.config import Settings, load_settings
from gpuledger.report import readmodel_chargeback as chargeback_rm
from gpuledger.report import readmodel_health as health_rm
from gpuledger.report import readmodel_recs as recs_rm
from gpuledger.report import readmodel_waste as waste_rm
from gpuledger.report.readmodel_access import Viewer
from gpuledger.report.readmodel_chargeback import ChargebackView, PeriodInfo
from gpuledger.report.readmodel_health import HealthView
from gpuledger.report.readmodel_recs import RecsView
from gpuledger.report.readmodel_waste import WasteView
from gpuledger.store import Store, resolve_home

Fingerprint = tuple[tuple[str, int | None], ...]
CACHE = {"show_spinner": False, "max_entries": 256}


@dataclass(frozen=True)
class Ledger:
    """Where the app reads from: the ledger home and the config file, as the CLI resolves them."""

    home: str
    config: str | None = None

    @classmethod
    def from_env(cls) -> Ledger:
        """``GPULEDGER_HOME`` and ``GPULEDGER_CONFIG``, as ``gpuledger app`` passes them on."""
        return cls(resolve_home(None), os.environ.get("GPULEDGER_CONFIG") or None)

    def store(self) -> Store:
        return _store(self.home)

    def settings(self) -> Settings:
        loaded: Settings = _settings(self.config, _file_fingerprint(self.config))
        return loaded

    def fingerprint(self) -> Fingerprint:
        """What every cached answer depends on; it changes whenever the ledger does."""
        store = self.store()
        state = Path(store.state.path)
        files = [str(state), f"{state}-wal", self.config]
        return (
            *sorted(store.versions().items()),
            *((str(name), stamp) for name in files if name for stamp in _file_fingerprint(name)),
        )


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
def _store(home: str) -> Store:
    return Store(home)


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _settings(config: str | None, _stamp: tuple[int | None, int | None]) -> Settings:
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
def _chargeback(ledger: Ledger, key: Fingerprint, period: str, viewer: Viewer) -> ChargebackView:
    return chargeback_rm.chargeback_view(ledger.store(), ledger.settings(), period, viewer)


def chargeback(ledger: Ledger, period: str, viewer: Viewer) -> ChargebackView:
    """The month's statements, cut to the viewer's teams."""
    result: ChargebackView = _chargeback(ledger, ledger.fingerprint(), period, viewer)
    return result


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _instances(
    ledger: Ledger, key: Fingerprint, period: str, viewer: Viewer, team: str
) -> pl.DataFrame:
    return chargeback_rm.instance_costs(ledger.store(), ledger.settings(), period, viewer, team)


def instance_costs(ledger: Ledger, period: str, viewer: Viewer, team: str) -> pl.DataFrame:
    """One team's allocated cost per model × GPU model × instance (raises AccessDenied)."""
    result: pl.DataFrame = _instances(ledger, ledger.fingerprint(), period, viewer, team)
    return result


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _download(ledger: Ledger, key: Fingerprint, period: str, viewer: Viewer, fmt: str) -> bytes:
    return chargeback_rm.download(ledger.store(), ledger.settings(), period, viewer, fmt)


def download(ledger: Ledger, period: str, viewer: Viewer, fmt: str) -> bytes:
    """The export ``gpuledger chargeback --format fmt`` writes, byte for byte (finance only)."""
    result: bytes = _download(ledger, ledger.fingerprint(), period, viewer, fmt)
    return result


# waste -------------------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _waste(ledger: Ledger, key: Fingerprint, period: str, viewer: Viewer) -> WasteView:
    return waste_rm.waste_view(ledger.store(), ledger.settings(), period, viewer)


def waste(ledger: Ledger, period: str, viewer: Viewer) -> WasteView:
    """The month's GPU waste for the viewer's teams."""
    result: WasteView = _waste(ledger, ledger.fingerprint(), period, viewer)
    return result


def day_by_hour(ledger: Ledger, period: str, viewer: Viewer) -> pl.DataFrame:
    """Utilization per day × hour of day, for the viewer's teams."""
    return waste_rm.day_by_hour(waste(ledger, period, viewer).hourly)


def gpu_by_hour(ledger: Ledger, period: str, viewer: Viewer, day: date) -> pl.DataFrame:
    """One day's utilization per GPU × hour, for the viewer's teams."""
    return waste_rm.gpu_by_hour(waste(ledger, period, viewer).hourly, day)


# recommendations -------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _recs(ledger: Ledger, key: Fingerprint, period: str, viewer: Viewer) -> RecsView:
    return recs_rm.recs_view(ledger.store(), ledger.settings(), period, viewer)


def recommendations(ledger: Ledger, period: str, viewer: Viewer) -> RecsView:
    """The month's recommendations for the viewer's teams, with realized savings of done ones."""
    result: RecsView = _recs(ledger, ledger.fingerprint(), period, viewer)
    return result


def change_status(
    ledger: Ledger, period: str, viewer: Viewer, rec_id: str, action: str, reason: str | None
) -> str:
    """Write a recommendation status as the CLI does; the next read sees it (state changed)."""
    return recs_rm.change_status(
        ledger.store(), ledger.settings(), period, viewer, rec_id, action, reason
    )


# data health -----------------------------------------------------------------------------------


@st.cache_data(**CACHE)  # type: ignore[call-overload, untyped-decorator]
def _health(ledger: Ledger, key: Fingerprint, viewer: Viewer) -> HealthView:
    return health_rm.health_view(ledger.store(), ledger.settings(), viewer)


def health(ledger: Ledger, viewer: Viewer) -> HealthView:
    """Sources, periods, quarantine, GPUs without telemetry, attribution coverage (finance)."""
    result: HealthView = _health(ledger, ledger.fingerprint(), viewer)
    return result
