"""Where a ledger's operational state lives, from its home and ``[state] url``.

- no ``[state] url`` and a local home: SQLite beside the ledger (``HOME/state.sqlite``);
- no ``[state] url`` and a remote home (``s3://``, ``gs://``, …): refused. State kept on whichever
  machine runs the command would split the ledger: another machine would not see its closed
  months, and could send an e-mail twice;
- ``[state] url = "sqlite:///PATH"``: that SQLite file, also for a remote home (one machine, on
  purpose);
- ``[state] url = "postgresql://USER@HOST:PORT/DB"``: that database, the ledger in its own schema
  (:mod:`~gpuledger.store.state_postgres`), the password from ``[state] password_env``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gpuledger.errors import UsageError
from gpuledger.store.state import StateDB

if TYPE_CHECKING:
    from gpuledger.config import StateConfig

SQLITE = "sqlite:///"
POSTGRES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def open_state(home: str, config: StateConfig | None) -> StateDB:
    """The state database of the ledger at ``home`` (a local path or a remote URL)."""
    if config is None or config.url is None:
        if "://" in home:
            raise UsageError(
                f"ledger home {home} is remote, so its operational state (ingest runs, closed"
                " months, e-mail send log, scheduler runs) must be shared by every machine that"
                ' uses it: set [state] url = "postgresql://USER@HOST:PORT/DB" in the config'
                ' (or [state] url = "sqlite:///PATH" to keep it on this one machine)'
            )
        return StateDB(Path(home) / "state.sqlite")
    url = config.url
    if url.startswith(SQLITE):
        return StateDB(Path(url.removeprefix(SQLITE)).expanduser())
    if url.startswith(POSTGRES):
        password = config.password
        secret = None if password is None else password.get_secret_value()
        from gpuledger.store.state_postgres import PostgresState  # SQLAlchemy only when used

        return StateDB(PostgresState(url, secret, home))
    raise UsageError(
        f"[state] url {url!r}: expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
    )
