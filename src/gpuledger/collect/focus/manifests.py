"""FOCUS export runs: the ``manifest.json`` a cost export writes next to its data files.

Part of ``collect/focus``. Azure Cost Management (and exporters that copy its layout) writes each
run of an export to a folder of its own with a ``manifest.json`` whose ``runInfo`` names the run
(``runId``), when it was submitted (``submittedTime``) and the dates it covers (``startDate``,
``endDate``), and whose ``blobs`` list the run's data files with their ``dataRowCount``. A data
file belongs to the manifest of the nearest folder above it; files without one carry no run.

What a manifest is used for:

* the run's time orders deliveries of the same month
  (:func:`~gpuledger.collect.ingest.refuse_older_deliveries`); a manifest without
  ``submittedTime`` is dated by when it was written;
* every blob it lists must be there, or the whole ingest is refused before anything is written;
* a blob's ``dataRowCount`` must equal the rows its file holds (a file cut short is refused);
* the months its dates cover are the billing periods its rows may have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gpuledger.collect.files import SourceFile, exists, list_files, manifest_list, read_json_object
from gpuledger.collect.values import utc_time_of
from gpuledger.errors import InputError
from gpuledger.period import Period

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ExportRun:
    """One run of an export: its folder, id, time, covered months and listed files."""

    folder: str
    run_id: str | None
    delivered_at: datetime | None
    months: tuple[Period, Period] | None = None  # first and last billing month it covers
    # file URI → the dataRowCount its manifest states
    row_counts: dict[str, int | None] = field(default_factory=dict, hash=False, compare=False)
    manifest: str = ""


def export_runs(src: str, listing: list[SourceFile] | None = None) -> list[ExportRun]:
    """Every export run under ``src`` that has a manifest, deepest folder first.

    Refuses a manifest that lists a file that is not there, or whose fields have the wrong shape.
    """
    files = list_files(src) if listing is None else listing
    by_uri = {file.uri: file for file in files}
    runs = [_run(file, by_uri) for file in files if file.name == MANIFEST]
    return sorted(runs, key=lambda run: len(run.folder), reverse=True)


def run_of(uri: str, runs: list[ExportRun]) -> ExportRun | None:
    """The run a data file belongs to: the manifest of the nearest folder above it."""
    return next((run for run in runs if uri.startswith(run.folder)), None)


def _run(file: SourceFile, by_uri: dict[str, SourceFile]) -> ExportRun:
    manifest = read_json_object(file.uri)
    info = _object(manifest, "runInfo", file.uri)
    submitted = info.get("submittedTime")
    delivered = _time(info, "submittedTime", file) if submitted is not None else file.modified
    run_id = info.get("runId")
    folder = file.uri[: -len(MANIFEST)]
    return ExportRun(
        folder,
        None if run_id is None else str(run_id),
        delivered,
        _months(info, file),
        _blobs(manifest, folder, file.uri, by_uri),
        file.uri,
    )


def _object(manifest: dict[str, Any], key: str, uri: str) -> dict[str, Any]:
    value = manifest.get(key, {})
    if not isinstance(value, dict):
        raise InputError(
            f"manifest field {key!r} is not an object ({type(value).__name__} found)",
            file=uri,
            column=key,
            expected="a JSON object",
        )
    return value


def _time(info: dict[str, Any], key: str, file: SourceFile) -> datetime:
    value = info[key]
    moment = utc_time_of(str(value))
    if moment is None:
        raise InputError(
            f"runInfo.{key} {value!r} is not a timestamp",
            file=file.uri,
            column=f"runInfo.{key}",
            expected="an ISO 8601 / RFC 3339 timestamp",
        )
    return moment


def _months(info: dict[str, Any], file: SourceFile) -> tuple[Period, Period] | None:
    """The months from ``runInfo.startDate`` to ``endDate`` (an end at midnight is exclusive)."""
    if info.get("startDate") is None or info.get("endDate") is None:
        return None
    start, end = _time(info, "startDate", file), _time(info, "endDate", file)
    last = end - timedelta(microseconds=1) if end > start else end
    return Period.of(start), Period.of(last)


def _blobs(
    manifest: dict[str, Any], folder: str, uri: str, by_uri: dict[str, SourceFile]
) -> dict[str, int | None]:
    """Each listed blob as a file URI with its ``dataRowCount``; every one must be there."""
    blobs = manifest_list(manifest, "blobs", uri, dict, "objects with a blobName")
    counts: dict[str, int | None] = {}
    missing: list[str] = []
    for blob in blobs:
        name, rows = blob.get("blobName"), blob.get("dataRowCount")
        if not isinstance(name, str) or not name or not (rows is None or type(rows) is int):
            raise InputError(
                f"manifest blob {blob!r} has no blobName text or a dataRowCount that is no "
                "whole number",
                file=uri,
                column="blobs",
                expected='objects like {"blobName": "part_0_0001.csv", "dataRowCount": 138}',
            )
        found = _resolve(name, folder, by_uri)
        if found is None:
            missing.append(name)
        else:
            counts[found] = rows
    if missing:
        raise InputError(
            f"export run incomplete: {len(missing)} of {len(blobs)} listed blob(s) missing: "
            + ", ".join(missing),
            file=uri,
            expected="every data file the manifest lists, beside it",
        )
    return counts


def _resolve(name: str, folder: str, by_uri: dict[str, SourceFile]) -> str | None:
    """A blob name (the container path, or a name relative to the manifest) as a file URI."""
    beside = folder + name.rsplit("/", 1)[-1]
    if beside in by_uri:
        return beside
    suffix = "/" + name.lstrip("/")
    found = next((uri for uri in by_uri if uri.endswith(suffix)), None)
    if found is not None:
        return found
    return beside if exists(beside) else None
