"""Benchmark of the Streamlit app: seconds to render each page, on a cold and then a warm cache.

    .venv/bin/python -m bench.app_pages .bench-data/scale-62/tile-4 config/gpuledger.toml
    .venv/bin/python -m bench.app_pages HOME CONFIG --pages views/waste.py --limit-gib 12

The issue asks every page to render in under 2 s on the 4× benchmark data, the engine having
precomputed what a page needs (``gpuledger recommend`` stores recommendations and the waste
precompute; run it on the home first to measure the app as deployed, or skip it to measure the
live fallback). Pages run through Streamlit's ``AppTest`` in one fresh process, in the order given,
each twice: *cold* is its first render in the process (the read model's ``st.cache_data`` is empty
for that page's question), *warm* the second (served from that cache). The home page goes first, as
a visitor's would, and its own time is shown too. The worker runs under an RSS limit (the machine is
shared): a page that needs more memory than that is reported as such, not left to the OOM killer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import emit, run_measured

REPO = Path(__file__).resolve().parent.parent
HOME_SCRIPT = REPO / "app" / "Home.py"
PAGES = ("views/chargeback.py", "views/waste.py", "views/recommendations.py", "views/health.py")
TARGET_S = 2.0  # the bar for every page


def worker(home: str, config: str, pages: list[str], timeout_s: float) -> None:
    """Render the home page, then each page cold and warm; emit the timings as the last line."""
    os.environ["GPULEDGER_HOME"] = home
    os.environ["GPULEDGER_CONFIG"] = config
    from streamlit.testing.v1 import AppTest  # after the environment: the app reads it on import

    started = time.perf_counter()
    app = AppTest.from_file(str(HOME_SCRIPT), default_timeout=timeout_s)
    runs: list[dict[str, Any]] = []
    t = time.perf_counter()
    app.run()
    runs.append(_run("Home.py", "first", time.perf_counter() - t, app))
    for page in pages:
        for attempt in ("cold", "warm"):
            t = time.perf_counter()
            app.switch_page(page).run()
            runs.append(_run(page, attempt, time.perf_counter() - t, app))
            print(f"{page} {attempt} {runs[-1]['seconds']:.2f} s", file=sys.stderr, flush=True)
    emit({"runs": runs, "wall_s": time.perf_counter() - started})


def _run(page: str, attempt: str, seconds: float, app: Any) -> dict[str, Any]:
    errors = [str(e.message)[:200] for e in app.exception] if app.exception else []
    return {"page": page, "attempt": attempt, "seconds": round(seconds, 2), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("home", help="ledger home (e.g. .bench-data/scale-62/tile-4)")
    parser.add_argument("config", help="gpuledger config file the app reads")
    parser.add_argument(
        "--pages", nargs="+", default=list(PAGES), help="pages to time, in order (default: all)"
    )
    parser.add_argument(
        "--limit-gib", type=float, default=10.0, help="stop the worker past this RSS"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="AppTest's limit per page run, in seconds"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.home, args.config, args.pages, args.timeout)
        return
    worker_args = [
        "bench.app_pages",
        str(Path(args.home).resolve()),
        str(Path(args.config).resolve()),
        "--pages",
        *args.pages,
        "--timeout",
        str(args.timeout),
        "--worker",
    ]
    measured = run_measured("app pages", worker_args, limit_gib=args.limit_gib)
    print(f"{'page':<28} {'attempt':<7} {'seconds':>8}  under {TARGET_S:g} s")
    for run in measured.report["runs"]:
        verdict = "yes" if run["seconds"] < TARGET_S else "NO"
        errors = f"  errors: {run['errors']}" if run["errors"] else ""
        print(f"{run['page']:<28} {run['attempt']:<7} {run['seconds']:>8.2f}  {verdict}{errors}")
    print(f"peak RSS {measured.peak_rss_gib:.1f} GiB")


if __name__ == "__main__":
    main()
