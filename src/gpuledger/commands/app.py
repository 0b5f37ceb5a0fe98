"""`gpuledger app`: serve the Streamlit app (``app/Home.py``) on the ledger home.

The pages ship inside the wheel as ``gpuledger/app``; an editable install serves the checkout's
``app/`` instead. Either way Streamlit puts the pages' folder first on ``sys.path``, which is how
they import each other (``from ledger_ui import session``).

The app reads the same home and config the CLI resolves; they travel to the Streamlit process
through ``GPULEDGER_HOME`` and ``GPULEDGER_CONFIG``. It binds to 127.0.0.1 by default because
single-user mode makes whoever reaches the port finance.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from importlib import resources
from pathlib import Path

from gpuledger.commands.checkout import source_checkout
from gpuledger.commands.context import Context
from gpuledger.errors import UsageError


def app_script() -> Path:
    """``Home.py`` of the installed package's ``app/``, else of the source checkout's ``app/``."""
    installed = resources.files("gpuledger").joinpath("app", "Home.py")
    candidates = [installed] if isinstance(installed, Path) else []
    checkout = source_checkout()
    if checkout is not None:
        candidates.append(checkout / "app" / "Home.py")
    for script in candidates:
        if script.is_file():
            return script
    looked = ", ".join(str(script) for script in candidates) or str(installed)
    raise UsageError(
        f"the Streamlit app is not installed here (looked for {looked}); install gpuledger's"
        " wheel with its server extra (pip install 'gpuledger[server]') or run `gpuledger app`"
        " from a repository checkout"
    )


def streamlit_command(script: Path, *, port: int, address: str) -> list[str]:
    """``streamlit run`` through :func:`serve` (this module as a program), headless."""
    return [
        sys.executable,
        "-m",
        "gpuledger.commands.app",
        "run",
        str(script),
        "--server.headless",
        "true",
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def app_environment(ctx: Context) -> dict[str, str]:
    """The environment of the Streamlit process: ours, plus the resolved home and config."""
    from gpuledger.store.delta import resolve_home  # the storage stack, only once it is used

    env = dict(os.environ)
    env["GPULEDGER_HOME"] = resolve_home(ctx.home)
    if ctx.config is not None:
        env["GPULEDGER_CONFIG"] = str(Path(ctx.config).resolve())
    return env


def run(ctx: Context, *, port: int, address: str) -> None:
    """Become the app server (exec), so signals and exit status are Streamlit's own."""
    ctx.settings  # noqa: B018 - a broken config is reported here, not as a page error
    command = streamlit_command(app_script(), port=port, address=address)
    print(f"gpuledger app: http://{address}:{port}  (Ctrl-C stops it)", flush=True)
    os.execve(sys.executable, command, app_environment(ctx))  # noqa: S606 - our own argv


def _warm() -> None:
    """Import what the pages import and fill the read model's cache for the newest month.

    A failure only costs the head start: the pages report the same error to whoever opens them.
    """
    try:
        import altair  # noqa: F401 - the pages' charts
        import pandas  # noqa: F401 - Streamlit's tables and charts convert through it

        from gpuledger.report.readmodel import cached as readmodel

        readmodel.warm(readmodel.Ledger.from_env())
    except Exception:
        logging.getLogger(__name__).exception("warming the app's cache failed")


def serve(argv: list[str]) -> None:
    """The app server process: Streamlit's own ``streamlit`` command, with a head start.

    The server starts listening at once (its health check answers before any page module is
    imported); meanwhile a background thread imports what every page imports (pandas, Altair,
    Polars, the read model) and computes the newest month's results, so the first visitor
    waits for neither.
    """
    from streamlit.web import cli

    threading.Thread(target=_warm, name="gpuledger-warm", daemon=True).start()
    cli.main(args=argv, prog_name="streamlit")


if __name__ == "__main__":
    serve(sys.argv[1:])
