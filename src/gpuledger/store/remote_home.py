"""Checks on a remote ledger home before anything reads or writes it."""

from __future__ import annotations

import os

from gpuledger.errors import UsageError

S3_SCHEMES = ("s3://", "s3a://")


def check_home_endpoint(home: str) -> None:
    """Refuse an S3 home over a plain-HTTP endpoint unless ``AWS_ALLOW_HTTP=true``.

    The Delta tables' object store refuses plain HTTP without it, deep inside the first read or
    write; this says so up front, naming the two variables.
    """
    if not home.startswith(S3_SCHEMES):
        return
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    if endpoint.startswith("http://") and os.environ.get("AWS_ALLOW_HTTP", "").lower() != "true":
        raise UsageError(
            f"ledger home {home}: the S3 endpoint {endpoint} (AWS_ENDPOINT_URL) is plain HTTP;"
            " set AWS_ALLOW_HTTP=true to use it, or use an https:// endpoint"
        )
