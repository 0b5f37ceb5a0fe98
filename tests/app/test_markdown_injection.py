"""Names from the data and the URL render as text: no link or image a job label or a link could plant.

Streamlit renders Markdown in captions, alerts, titles, metric labels and ``st.table`` cells. The
ledger here is the app tests' ledger with one telemetry ``job`` and ``model`` label replaced by a
phishing payload; the payload must reach the pages (escaped) and never as Markdown syntax.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from gpuledger.schema import Usage
from tests.app import ledger as app_ledger
from tests.app.conftest import HOME_SCRIPT, LedgerFiles


def _app_module(name: str) -> object:
    """A module of the app's own folder (Streamlit puts it on ``sys.path``; tests do not)."""
    spec = importlib.util.spec_from_file_location(name, HOME_SCRIPT.parent / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plain: Callable[[object], str] = _app_module("plain").plain  # type: ignore[attr-defined]

PAYLOAD = "![pixel](http://evil.example/t.png)[Open invoice](http://evil.example/phish)"
# Link or image syntax, an autolink or raw HTML that Markdown would act on (not backslash-escaped)
ACTIVE = re.compile(r"(?<!\\)(!\[|\]\(|<[a-z/])|https?://|(?<!\\)www\.", re.IGNORECASE)


def _labelled(frame: pl.DataFrame) -> pl.DataFrame:
    busy = pl.col(Usage.job).is_not_null()
    return frame.with_columns(
        pl.when(busy).then(pl.lit(PAYLOAD)).alias(Usage.job),
        pl.when(busy).then(pl.lit(PAYLOAD)).alias(Usage.model),
    )


@pytest.fixture(scope="module")
def evil_ledger(tmp_path_factory: pytest.TempPathFactory) -> LedgerFiles:
    root = tmp_path_factory.mktemp("evil")
    config = app_ledger.write_config(root)
    with pytest.MonkeyPatch.context() as patch:
        telemetry = app_ledger.telemetry
        patch.setattr(app_ledger, "telemetry", lambda: _labelled(telemetry()))
        app_ledger.build_ledger(root / "home", config)
    return LedgerFiles(root / "home", config)


def _open(monkeypatch: pytest.MonkeyPatch, ledger: LedgerFiles, page: str, **query: str) -> AppTest:
    monkeypatch.setenv("GPULEDGER_HOME", str(ledger.home))
    monkeypatch.setenv("GPULEDGER_CONFIG", str(ledger.config))
    at = AppTest.from_file(str(HOME_SCRIPT), default_timeout=60)
    at.query_params.update(query)
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rendered_markdown(at: AppTest) -> list[str]:
    """Every string on the page that Streamlit renders as Markdown."""
    texts = [
        str(element.value)
        for kind in ("markdown", "caption", "title", "subheader", "info", "warning", "error")
        for element in getattr(at, kind)
    ]
    texts += [str(metric.label) for metric in at.metric]
    for table in at.table:
        frame = table.value
        texts += [str(cell) for cell in frame.index]
        texts += [str(cell) for column in frame.columns for cell in frame[column]]
    return texts


def assert_inert(texts: list[str]) -> None:
    assert plain(PAYLOAD) in "\n".join(texts), "the payload never reached the page"
    active = [text for text in texts if ACTIVE.search(text)]
    assert not active, active


def test_a_model_label_is_text_on_the_recommendations_page(
    monkeypatch: pytest.MonkeyPatch, evil_ledger: LedgerFiles
) -> None:
    at = _open(monkeypatch, evil_ledger, "views/recommendations.py")
    assert list(at.table[0].value["Model"]) == [plain(PAYLOAD)]
    assert_inert(rendered_markdown(at))


def test_a_model_label_is_text_in_the_chargeback_explanation(
    monkeypatch: pytest.MonkeyPatch, evil_ledger: LedgerFiles
) -> None:
    at = _open(monkeypatch, evil_ledger, "views/chargeback.py", team="nlp", model=PAYLOAD)
    assert at.selectbox(key="drill_model").value == PAYLOAD
    assert_inert(rendered_markdown(at))


def test_a_team_named_by_a_link_is_text_in_the_refusal(
    monkeypatch: pytest.MonkeyPatch, evil_ledger: LedgerFiles
) -> None:
    at = _open(monkeypatch, evil_ledger, "views/recommendations.py", team=PAYLOAD)
    assert [w.value for w in at.warning] == [f"No team {plain(PAYLOAD)} in 2026-10."]
    assert_inert(rendered_markdown(at))


def test_plain_text_renders_every_character_as_written() -> None:
    assert plain("source: the bill (nlp)") == "source: the bill (nlp)"
    assert plain("- 1. www.x.io a@b.io :red[x] $1 $2 <b>") == (
        "\\- 1. www\\.x.io a\\@b.io \\:red\\[x\\] \\$1 \\$2 \\<b\\>"
    )
    assert plain("two\nlines") == "two lines"
    assert plain("$5 of $9") == "\\$5 of \\$9"  # a pair would open a formula
