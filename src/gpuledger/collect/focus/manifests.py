"""FOCUS export runs: the ``manifest.json`` a cost export writes next to its data files.

Part of ``collect/focus``. Azure Cost Management (and exporters that copy its layout) writes each
run of an export to a folder of its own with a ``manifest.json`` whose ``runInfo`` names the run
(``runId``) and when it was submitted (``submittedTime``). A data file belongs to the manifest of
the nearest folder above it; files without one carry no run. The run's time orders deliveries of
the same month (:func:`~gpuledger.collect.ingest.refuse_older_deliveries`); a manifest without ``submittedTime``
is dated by when it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gpuledger.collect.files import SourceFile, list_files, read_json_object
from gpuledger.collect.values import utc_time_of
from gpuledger.errors import InputError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportRun:
    """One run of an export: its folder, id and time."""

    folder: str
    run_id: str | None
    delivered_at: datetime | None


def export_runs(src: str) -> list[ExportRun]:
    """Every export run under ``src`` that has a manifest, deepest folder first."""
    runs = [_run(file) for file in list_files(src, (MANIFEST,))]
    return sorted(runs, key=lambda run: len(run.folder), reverse=True)


def run_of(uri: str, runs: list[ExportRun]) -> ExportRun | None:
    """The run a data file belongs to: the manifest of the nearest folder above it."""
    return next((run for run in runs if uri.startswith(run.folder)), None)


def _run(file: SourceFile) -> ExportRun:
    info = read_json_object(file.uri).get("runInfo")
    info = info if isinstance(info, dict) else {}
    submitted = info.get("submittedTime")
    delivered = utc_time_of(str(submitted)) if submitted is not None else file.modified
    if submitted is not None and delivered is None:
        raise InputError(
            f"runInfo.submittedTime {submitted!r} is not a timestamp",
            file=file.uri,
            column="runInfo.submittedTime",
            expected="an ISO 8601 / RFC 3339 timestamp",
        )
    run_id = info.get("runId")
    folder = file.uri[: -len(MANIFEST)]
    return ExportRun(folder, None if run_id is None else str(run_id), delivered)
