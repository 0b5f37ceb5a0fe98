"""Where source files come from: a local file or folder, ``s3://bucket/prefix`` or ``gs://…``.

Collectors ask for a listing and for bytes; they never talk to boto3 or GCS directly for plain
file access. S3 honours ``AWS_ENDPOINT_URL`` (that is how tests point it at a local server);
credentials come from each SDK's standard chain.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gpuledger.errors import InputError, SourceError


@dataclass(frozen=True)
class SourceFile:
    """One file of a source: its URI (what messages name), its size in bytes, when last written."""

    uri: str
    size: int
    modified: datetime | None = None  # UTC; None where the listing does not say

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def _gcs_client() -> Any:
    import google.cloud.storage as gcs

    return gcs.Client()


def list_files(src: str, patterns: Iterable[str] = ("*",)) -> list[SourceFile]:
    """Every file under ``src`` whose name matches one of ``patterns``, sorted by URI."""
    wanted = tuple(patterns)
    scheme = urlparse(src).scheme
    if scheme == "s3":
        found = _list_s3(src)
    elif scheme == "gs":
        found = _list_gcs(src)
    elif scheme in ("", "file"):
        found = _list_local(Path(src.removeprefix("file://")))
    else:
        raise InputError(f"{src}: unsupported location", expected="a path, s3://… or gs://…")
    return sorted(
        (f for f in found if any(fnmatch(f.name, p) for p in wanted)), key=lambda f: f.uri
    )


def _list_local(path: Path) -> list[SourceFile]:
    if path.is_file():
        return [_local_file(path)]
    if not path.is_dir():
        raise InputError(f"{path}: no such file or folder")
    return [_local_file(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _local_file(path: Path) -> SourceFile:
    stat = path.stat()
    return SourceFile(str(path), stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def _list_s3(src: str) -> list[SourceFile]:
    parsed = urlparse(src)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    client = _s3_client()
    files: list[SourceFile] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            files.extend(
                SourceFile(
                    f"s3://{bucket}/{item['Key']}", int(item["Size"]), item.get("LastModified")
                )
                for item in page.get("Contents", [])
                if not item["Key"].endswith("/")
            )
    except Exception as exc:
        raise SourceError(f"{src}: cannot list objects: {exc}", transient=True) from exc
    return files


def _list_gcs(src: str) -> list[SourceFile]:
    parsed = urlparse(src)
    try:
        blobs = _gcs_client().list_blobs(parsed.netloc, prefix=parsed.path.lstrip("/"))
        return [
            SourceFile(f"gs://{parsed.netloc}/{blob.name}", int(blob.size or 0), blob.updated)
            for blob in blobs
            if not blob.name.endswith("/")
        ]
    except Exception as exc:
        raise SourceError(f"{src}: cannot list objects: {exc}", transient=True) from exc


def read_bytes(uri: str) -> bytes:
    """The whole content of one file."""
    parsed = urlparse(uri)
    try:
        if parsed.scheme == "s3":
            body = _s3_client().get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
            return bytes(body["Body"].read())
        if parsed.scheme == "gs":
            blob = _gcs_client().bucket(parsed.netloc).blob(parsed.path.lstrip("/"))
            return bytes(blob.download_as_bytes())
        return Path(uri.removeprefix("file://")).read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{uri}: file not found") from exc
    except Exception as exc:
        if parsed.scheme in ("s3", "gs"):
            raise SourceError(f"{uri}: cannot read: {exc}", transient=True) from exc
        raise


def refuse_cut_short(file: SourceFile, data: bytes | None = None) -> None:
    """Refuse a CSV file whose content does not end with a line break: it ends inside a row.

    A CSV reader fills the missing cells of a cut last row with nulls and reads on, so a file
    cut short in transfer would store part of a bill. Every exporter we read (AWS, Azure, the
    FOCUS tools) ends its last row with a line break; ``data`` is the decompressed content when
    the caller holds it already.
    """
    last = _last_byte(file) if data is None else data[-1:]
    if last and last not in (b"\n", b"\r"):
        raise InputError(
            "ends inside a row: the last line has no line break, so the file was cut short",
            file=file.uri,
            expected="a complete CSV file whose every row ends with a line break",
        )


def _last_byte(file: SourceFile) -> bytes:
    """The last byte of a file's content (decompressed for ``.gz``); empty for an empty file."""
    parsed = urlparse(file.uri)
    local = parsed.scheme in ("", "file")
    if file.name.lower().endswith(".zip"):
        return b""  # an archive's members end where the archive says; not checked here
    if file.name.lower().endswith(".gz"):
        source = (
            Path(file.uri.removeprefix("file://")) if local else io.BytesIO(read_bytes(file.uri))
        )
        last = b""
        try:
            with gzip.open(source, "rb") as stream:
                while chunk := stream.read(1 << 20):
                    last = chunk[-1:]
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot be read ({exc})", file=file.uri) from exc
        return last
    if local:
        with Path(file.uri.removeprefix("file://")).open("rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                return b""
            handle.seek(-1, os.SEEK_END)
            return handle.read(1)
    if parsed.scheme == "s3" and file.size:
        try:
            body = _s3_client().get_object(
                Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), Range="bytes=-1"
            )
            return bytes(body["Body"].read())
        except Exception as exc:
            raise SourceError(f"{file.uri}: cannot read: {exc}", transient=True) from exc
    return read_bytes(file.uri)[-1:]


def read_json_object(uri: str) -> dict[str, Any]:
    """A manifest's JSON object; anything else is an InputError naming the file."""
    try:
        loaded = json.loads(read_bytes(uri))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"manifest is not valid JSON: {exc}", file=uri) from exc
    if not isinstance(loaded, dict):
        raise InputError("manifest is not a JSON object", file=uri)
    return loaded


def manifest_list(manifest: dict[str, Any], key: str, uri: str, item: type, what: str) -> list[Any]:
    """A manifest's list field (absent: empty); any other shape is an InputError naming it."""
    value = manifest.get(key, [])
    if not isinstance(value, list) or not all(isinstance(entry, item) for entry in value):
        raise InputError(
            f"manifest field {key!r} is not a list of {what} ({type(value).__name__} found)",
            file=uri,
            column=key,
            expected=f"a JSON array of {what}",
        )
    return value


def exists(uri: str) -> bool:
    """Whether a single file is there (used to check a manifest's file list)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        try:
            _s3_client().head_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))
        except Exception:
            return False
        return True
    if parsed.scheme == "gs":
        return bool(_gcs_client().bucket(parsed.netloc).blob(parsed.path.lstrip("/")).exists())
    return Path(uri.removeprefix("file://")).is_file()


def polars_storage_options(uri: str) -> dict[str, str] | None:
    """Storage options for Polars scans of a remote URI, honouring ``AWS_ENDPOINT_URL``."""
    if not uri.startswith("s3://"):
        return None
    options: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["aws_endpoint_url"] = endpoint
        if endpoint.startswith("http://"):
            options["aws_allow_http"] = "true"
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        options["aws_region"] = region
    return options or None
