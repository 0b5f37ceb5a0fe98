"""Hostile tag text (issue #19 item 8): every export and terminal output still works with it.

Team and model names come from cloud tags anyone can set. Whatever their text, the workbook has
valid, unique sheet names and cells openpyxl reads and writes back, and a terminal gets no
control character and no rich markup from them.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from rich.console import Console

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.engine.chargeback.statements import Statements
from gpuledger.report.export.printable import markup_text, printable
from gpuledger.report.export.render import render
from gpuledger.report.export.tabular import Column, Tabular
from gpuledger.report.export.tabular_xlsx import tabular_xlsx
from gpuledger.report.export.terminal import terminal_table
from gpuledger.report.export.xlsx import sheet_names
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

OCT = "2026-10"
HOSTILE_TEAMS = {
    "apostrophe-after-cut": "a" * 30 + "'b",
    "forbidden": "x[1]:*?/\\",
    "escape": "a\x1b[31mred",
    "formula": '=HYPERLINK("http://evil.example","x")',
    "same-31-one": "t" * 31 + "1",
    "same-31-two": "t" * 31 + "2",
    "c0-controls": "ctl\x00\x07\x0b\x7f",
    "c1-csi": "c1\x9b31m",
    "bidi-override": "pay\u202egnp.exe",
    "blank": "   ",
    "markup": "[bold]loud[/bold]",
    "bad-markup": "[/]",
}
# Control characters a terminal acts on (C0 but newline, DEL, C1) and bidi overrides.
TERMINAL_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What openpyxl refuses to write (its ILLEGAL_CHARACTERS_RE).
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@pytest.fixture
def statements(store: Store) -> Statements:
    rows = [
        {"team": name, "model": name, "x_GpuModel": name, "cost": "1.00", "ResourceId": f"i-{n}"}
        for n, name in enumerate(HOSTILE_TEAMS.values())
    ]
    write_month(store, OCT, *rows)
    return build_statements(store, Settings(), OCT)


def _assert_valid_sheet_names(names: list[str]) -> None:
    assert len({name.casefold() for name in names}) == len(names), names
    for name in names:
        assert name.strip(), names
        assert len(name) <= 31, name
        assert not SHEET_FORBIDDEN.search(name), name
        assert not name.startswith("'"), name
        assert not name.endswith("'"), name
        assert not TERMINAL_UNSAFE.search(name), name


@pytest.mark.parametrize(
    ("teams", "expected"),
    [
        (["a" * 30 + "'b"], ["a" * 30]),
        (["t" * 31 + "1", "t" * 31 + "2"], ["t" * 31, "t" * 27 + " (2)"]),
        (["a\x1b[31mred"], ["a_x1b_31mred"]),
        (["   ", "''"], ["team", "team (2)"]),
        (["history"], ["history (2)"]),
    ],
    ids=["apostrophe-after-cut", "same-after-cut", "escape", "blank", "reserved-history"],
)
def test_sheet_names_from_hostile_tags(teams: list[str], expected: list[str]) -> None:
    assert list(sheet_names(teams).values()) == expected


def test_every_hostile_team_gets_a_valid_unique_sheet() -> None:
    names = sheet_names(["Summary", *HOSTILE_TEAMS.values()])
    assert len(names) == 1 + len(HOSTILE_TEAMS)
    _assert_valid_sheet_names(["Summary", *names.values()])


def test_statement_workbook_opens_and_saves_again_with_openpyxl(statements: Statements) -> None:
    book = openpyxl.load_workbook(io.BytesIO(render(statements, "xlsx")))
    assert len(book.sheetnames) == 1 + len(HOSTILE_TEAMS)
    _assert_valid_sheet_names(book.sheetnames)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)
                if isinstance(cell.value, str):
                    assert not XML_ILLEGAL.search(cell.value), (sheet.title, cell.value)
    book.save(io.BytesIO())  # openpyxl raises IllegalCharacterError on a control character
    summary = {row[0].value for row in book["Summary"].iter_rows()}
    assert "a\\x1b[31mred" in summary
    assert '=HYPERLINK("http://evil.example","x")' in summary


def test_report_workbook_with_hostile_titles_and_cells_opens() -> None:
    column = Column("name", "name")
    tables = [
        Tabular(title, (column,), [{"name": title}], "USD") for title in HOSTILE_TEAMS.values()
    ]
    book = openpyxl.load_workbook(io.BytesIO(tabular_xlsx(tables, "Waste", OCT)))
    _assert_valid_sheet_names(book.sheetnames)
    book.save(io.BytesIO())


def test_statement_table_prints_no_control_character_or_markup(statements: Statements) -> None:
    text = render(statements, "table").decode("utf-8")
    assert not TERMINAL_UNSAFE.search(text)
    assert "a\\x1b[31mred" in text
    assert "[bold]loud[/bold]" in text  # shown as typed, not as bold text
    assert "[/]" in text


def test_report_table_on_a_colour_terminal_carries_only_its_own_styles() -> None:
    column = Column("name", "name")
    rows = [{"name": name} for name in HOSTILE_TEAMS.values()]
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=True, color_system="standard")
    console.print(terminal_table(Tabular("[red]title", (column,), rows, "USD"), 200))
    text = buffer.getvalue()
    assert "\x1b[31m" not in text  # neither from the title's markup nor from a team name
    assert "[red]title" in text
    assert "a\\x1b[31mred" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("tab\there", "tab\\there"),
        ("rlo\u202eevil", "rlo\\u202eevil"),
        ("plain ünïcode", "plain ünïcode"),
    ],
    ids=["escape", "tab", "bidi", "unicode-kept"],
)
def test_printable_shows_controls_as_escapes(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_markup_text_escapes_brackets() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=80).print(f"team {markup_text('[/]x[bold]')}")
    assert buffer.getvalue() == "team [/]x[bold]\n"


def _gpuledger(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuledger", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chargeback_and_status_commands_with_hostile_teams(
    statements: Statements, store: Store, tmp_path: Path
) -> None:
    home = Path(store.home)
    out = tmp_path / "statements.xlsx"
    written = _gpuledger(home, "chargeback", "--period", OCT, "--format", "xlsx", "--out", str(out))
    assert written.returncode == 0, written.stderr
    openpyxl.load_workbook(out).save(tmp_path / "again.xlsx")
    config = tmp_path / "gpuledger.toml"
    config.write_text("[teams.nlp]\n")  # with teams configured, status names the others
    for args in (("chargeback", "--period", OCT), ("--config", str(config), "status")):
        shown = _gpuledger(home, *args)
        assert shown.returncode == 0, shown.stderr
        assert not TERMINAL_UNSAFE.search(shown.stdout + shown.stderr), args
        assert "a\\x1b[31mred" in shown.stdout, args
