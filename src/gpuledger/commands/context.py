"""The global options every command receives: home and config, opened only when a command asks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gpuledger.errors import UsageError

if TYPE_CHECKING:
    from gpuledger.config import Settings
    from gpuledger.store.delta import Store


@dataclass
class Context:
    """Global options, resolved lazily: a command that needs no store never opens one, and
    ``--help`` imports neither the settings model nor the storage stack."""

    home: str | None
    config: Path | None
    _settings: Settings | None = None
    _store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from gpuledger.config import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    @property
    def store(self) -> Store:
        """The ledger, created under the home if it is not there yet (ingest, demo, maintain);
        its state where ``[state]`` says (a remote home without ``[state] url`` is refused)."""
        if self._store is None:
            from gpuledger.store.delta import Store

            self._store = Store(self.home, state=self.settings.state)
        return self._store

    @property
    def read_store(self) -> Store:
        """The ledger of a command that reads one: a local home that does not exist is a usage
        error naming it, never a new empty ledger (a mistyped ``--home`` must not look empty)."""
        if self._store is None:
            from gpuledger.store.delta import resolve_home

            home = resolve_home(self.home)
            if "://" not in home and not Path(home).is_dir():
                raise UsageError(
                    f"ledger home {home} does not exist: give the ledger's folder with --home"
                    " (or GPULEDGER_HOME), or create one with `gpuledger ingest` or `gpuledger demo`"
                )
        return self.store
