"""Where `gpuledger app` and `gpuledger demo` find the files that ship with gpuledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuledger.commands import app, demo
from gpuledger.commands.checkout import source_checkout
from gpuledger.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def test_an_editable_install_runs_from_the_checkout() -> None:
    assert source_checkout() == REPO
    assert app.app_script() == REPO / "app" / "Home.py"
    assert demo._repo_sample_data() == REPO / "sample_data"


def test_without_the_pages_the_app_says_how_to_get_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "source_checkout", lambda: None)
    with pytest.raises(UsageError, match=r"gpuledger\[server\]"):
        app.app_script()


def test_without_a_checkout_the_demo_generates_its_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "source_checkout", lambda: None)
    assert demo._repo_sample_data() is None


def test_the_demo_config_is_the_packaged_example(tmp_path: Path) -> None:
    demo._write_example_config(tmp_path / "gpuledger.toml")
    packaged = REPO / "src" / "gpuledger" / "data" / "gpuledger.toml"
    assert (tmp_path / "gpuledger.toml").read_bytes() == packaged.read_bytes()
