"""`gpuledger app`'s server process listens before it imports the data stack the pages use."""

from __future__ import annotations

import json
import subprocess
import sys

DATA_STACK = ("polars", "pyarrow", "deltalake", "pandas", "altair")

# Runs serve() with Streamlit's command replaced by a probe that records what is imported when
# the server would start listening; the background warm-up (which imports it all) is left out.
PROBE = f"""
import json, sys
from streamlit.web import cli
from gpuledger.commands import app
imported = []
cli.main = lambda **_: imported.extend(m for m in {DATA_STACK!r} if m in sys.modules)
app._warm = lambda: None
app.serve(["run", "Home.py"])
print(json.dumps(imported))
"""


def test_the_server_starts_before_the_data_stack_is_imported() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(probe.stdout.splitlines()[-1]) == []
