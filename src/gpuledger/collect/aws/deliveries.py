"""Which AWS export files count: deliveries found from the folder layout and the manifests.

Collect step, AWS: before any row is read, a listing of ``SRC`` is turned into deliveries.

* **Data Exports** (CUR 2.0 and the FOCUS export):
  ``<export>/data/BILLING_PERIOD=YYYY-MM/…`` with
  ``<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``, whose ``dataFiles`` list the
  delivery's files.
* **Legacy CUR**: ``<report>/yyyymmdd-yyyymmdd/<report>-Manifest.json`` names the current
  assembly (``assemblyId``) and its files (``reportKeys``); other assembly folders of the period
  are older deliveries and are ignored, as are the copies of the manifest inside assemblies.
* **Loose files**: data files no manifest governs (a single downloaded CSV, say) are read as they
  are, one delivery each.

A manifest's delivery time is when it was written (the S3 object's or file's modification
time): AWS writes the manifest last, so it dates the whole delivery.

Files named by a manifest are resolved relative to the export's own folder, so a delivery copied
to another bucket or to disk still resolves. A manifest naming a file that is not there refuses
the whole ingest, naming the missing files, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from gpuledger.collect.files import (
    SourceFile,
    exists,
    list_files,
    manifest_list,
    read_json_object,
)
from gpuledger.errors import InputError

DATA_SUFFIXES: Final = (".parquet", ".csv", ".csv.gz", ".csv.zip")
_EXPORT_MANIFEST: Final = re.compile(
    r"^(?P<root>.*)/metadata/BILLING_PERIOD=(?P<period>\d{4}-\d{2})/"
)
_LEGACY_FOLDER: Final = re.compile(r"^(?P<root>.*)/(?P<start>\d{8})-(?P<end>\d{8})/[^/]+$")


@dataclass(frozen=True)
class AwsDelivery:
    """One delivery: the files that make up one export's billing period (or one loose file)."""

    layout: Literal["data-export", "legacy-cur", "file"]
    files: tuple[SourceFile, ...]
    period: str | None = None  # YYYY-MM from the layout; loose files take theirs from the rows
    delivery_id: str | None = None
    manifest: str | None = None
    delivered_at: datetime | None = None  # when the manifest was written: the delivery's time


def is_data_file(uri: str) -> bool:
    return uri.lower().endswith(DATA_SUFFIXES)


def find_deliveries(src: str) -> list[AwsDelivery]:
    """Every delivery under ``src``, newest assembly only; refuses manifests with missing files."""
    listing = list_files(src)
    by_uri = {f.uri: f for f in listing}
    deliveries: list[AwsDelivery] = []
    governed: list[str] = []  # folders whose data files only a manifest may name
    for manifest in (f for f in listing if f.name.endswith("Manifest.json")):
        found = _from_manifest(manifest, by_uri)
        if found is None:
            continue
        delivery, folder = found
        deliveries.append(delivery)
        governed.append(folder)
    named = {f.uri for d in deliveries for f in d.files}
    for file in listing:
        if not is_data_file(file.uri) or file.uri in named:
            continue
        if any(file.uri.startswith(folder) for folder in governed):
            continue  # an older assembly, or a file the current manifest does not list
        deliveries.append(AwsDelivery("file", (file,)))
    if not deliveries:
        raise InputError(
            f"{src}: no AWS billing files found",
            expected="a CUR 2.0 / FOCUS Data Export, a legacy CUR, or .csv/.csv.gz/.parquet files",
        )
    return sorted(deliveries, key=lambda d: (d.period or "", d.files[0].uri))


def _from_manifest(
    file: SourceFile, by_uri: dict[str, SourceFile]
) -> tuple[AwsDelivery, str] | None:
    uri = file.uri
    export = _EXPORT_MANIFEST.match(uri)
    if export:
        manifest = read_json_object(uri)
        root = export["root"]
        keys = manifest_list(manifest, "dataFiles", uri, str, "file names")
        files = _resolve(uri, keys, root, "/data/", by_uri)
        delivery_id = manifest.get("executionId")
        return (
            AwsDelivery("data-export", files, export["period"], delivery_id, uri, file.modified),
            f"{root}/data/BILLING_PERIOD={export['period']}/",
        )
    legacy = _LEGACY_FOLDER.match(uri)
    if legacy:
        manifest = read_json_object(uri)
        if "assemblyId" not in manifest:
            return None
        folder = uri.rsplit("/", 1)[0]
        period_folder = f"/{legacy['start']}-{legacy['end']}/"
        keys = manifest_list(manifest, "reportKeys", uri, str, "file names")
        files = _resolve(uri, keys, folder.rsplit("/", 1)[0], period_folder, by_uri)
        period = f"{legacy['start'][:4]}-{legacy['start'][4:6]}"
        return (
            AwsDelivery(
                "legacy-cur", files, period, str(manifest["assemblyId"]), uri, file.modified
            ),
            folder + "/",
        )
    return None


def _resolve(
    manifest: str, keys: list[str], root: str, anchor: str, by_uri: dict[str, SourceFile]
) -> tuple[SourceFile, ...]:
    """The manifest's file names as files under ``root``; all of them must be there."""
    if not keys:
        raise InputError("manifest lists no data files", file=manifest)
    resolved: list[SourceFile] = []
    missing: list[str] = []
    for key in keys:
        at = key.rfind(anchor)
        uri = root + key[at:] if at >= 0 else f"{root}/{key.rsplit('/', 1)[-1]}"
        if uri in by_uri:
            resolved.append(by_uri[uri])
        elif exists(uri):
            resolved.append(SourceFile(uri, 0))
        else:
            missing.append(uri)
    if missing:
        raise InputError(
            f"delivery incomplete: {len(missing)} of {len(keys)} listed file(s) missing: "
            + ", ".join(missing),
            file=manifest,
            expected="every file the manifest lists",
        )
    return tuple(resolved)
