"""Broken deliveries are refused whole: files cut short, manifests that disagree with their files.

Issue #19 items 1, 2 and 12 (manifest shape): each case ingests a sound export first, then the
broken one, and expects exit 2 with one line naming the file and an unchanged store.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.collect.aws_export import cur2_rows, data_export, legacy_csv
from tests.collect.focus_rows import write_focus_csv
from tests.collect.test_fuzz_billing import ingest, snapshot, write_focus_run


def focus_run(root: Path, rows: int = 4) -> Path:
    """An October export run of ``rows`` distinct lines with its manifest."""
    lines = [
        {
            "ResourceId": f"vm-{number}",
            "BillingPeriodStart": "2026-10-01T00:00:00Z",
            "BillingPeriodEnd": "2026-11-01T00:00:00Z",
            "ChargePeriodStart": "2026-10-03T00:00:00Z",
            "ChargePeriodEnd": "2026-10-04T00:00:00Z",
        }
        for number in range(rows)
    ]
    scratch = root.parent / f"{root.name}-rows.csv"
    data = write_focus_csv(scratch, *lines).read_bytes()
    return write_focus_run(root, data, rows)


def focus_csv(src: Path) -> Path:
    return next(src.rglob("part_0_0001.csv"))


def focus_cut_inside_a_row(src: Path) -> Path:
    file = focus_csv(src)
    file.write_bytes(file.read_bytes()[:-20])
    return file


def focus_cut_at_a_row_end(src: Path) -> Path:
    """Cut after a complete row: only the manifest's dataRowCount tells."""
    file = focus_csv(src)
    lines = file.read_bytes().splitlines(keepends=True)
    file.write_bytes(b"".join(lines[:-2]))
    return file


def focus_blob_missing(src: Path) -> Path:
    manifest = next(src.rglob("manifest.json"))
    content = json.loads(manifest.read_text())
    content["blobs"].append({"blobName": "part_0_0002.csv", "dataRowCount": 3})
    manifest.write_text(json.dumps(content))
    return manifest


def focus_blobs_not_a_list(src: Path) -> Path:
    manifest = next(src.rglob("manifest.json"))
    content = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**content, "blobs": "oops"}))
    return manifest


def aws_export(root: Path) -> Path:
    data_export(root, "2026-10", [cur2_rows({}, {})], execution="e1")
    return root


def aws_data_files_not_a_list(src: Path) -> Path:
    manifest = next(src.rglob("*-Manifest.json"))
    content = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**content, "dataFiles": "oops"}))
    return manifest


def aws_loose_csv_cut_inside_a_row(src: Path) -> Path:
    """A downloaded CUR CSV (no manifest) that stops 30 bytes before its end."""
    shutil.rmtree(src / "cur")
    packed = legacy_csv(cur2_rows({}, {}, {}), src / "cur.csv.gz")
    file = src / "cur.csv"
    file.write_bytes(gzip.decompress(packed.read_bytes())[:-30])
    packed.unlink()
    return file


CASES: dict[str, tuple[str, Callable[[Path], Path], Callable[[Path], Path], str]] = {
    "focus csv cut inside a row": (
        "focus",
        focus_run,
        focus_cut_inside_a_row,
        "ends inside a row",
    ),
    "focus csv cut at a row end, manifest counts more": (
        "focus",
        focus_run,
        focus_cut_at_a_row_end,
        "holds 2 data row(s), but its manifest says 4",
    ),
    "focus manifest lists a missing blob": (
        "focus",
        focus_run,
        focus_blob_missing,
        "1 of 2 listed blob(s) missing: part_0_0002.csv",
    ),
    "focus manifest blobs is not a list": (
        "focus",
        focus_run,
        focus_blobs_not_a_list,
        "manifest field 'blobs' is not a list",
    ),
    "aws manifest dataFiles is not a list": (
        "aws",
        aws_export,
        aws_data_files_not_a_list,
        "manifest field 'dataFiles' is not a list of file names (str found)",
    ),
    "aws loose csv cut inside a row": (
        "aws",
        aws_export,
        aws_loose_csv_cut_inside_a_row,
        "ends inside a row",
    ),
}


@pytest.mark.parametrize(("source", "make", "break_it", "expected"), CASES.values(), ids=CASES)
def test_a_broken_delivery_is_refused_in_one_line_and_the_store_kept(
    tmp_path: Path,
    source: str,
    make: Callable[[Path], Path],
    break_it: Callable[[Path], Path],
    expected: str,
) -> None:
    home = tmp_path / "home"
    assert ingest(home, source, make(tmp_path / "good")).exit_code == 0
    before = snapshot(home)
    src = make(tmp_path / "bad")
    file = break_it(src)

    outcome = ingest(home, source, src)

    assert outcome.exit_code == 2, outcome
    assert "\n" not in outcome.message
    assert str(file) in outcome.message
    assert expected in outcome.message
    assert snapshot(home) == before
