"""One rooted exception tree, so the CLI maps failures to exit codes and the scheduler knows what to retry.

    GpuledgerError                 exit 1 unless a subclass says otherwise
    ├── ConfigError                exit 2: the config file is wrong (key, file, line, expected)
    ├── InputError                 exit 2: a source file is wrong (file, row, column, expected)
    │   └── SchemaError            a frame does not match a canonical table
    ├── UsageError                 exit 2: the command was asked for something it cannot do
    ├── SourceError                exit 1: a source could not be read (network, permissions)
    ├── DeliveryError              exit 1: an e-mail could not be delivered
    └── StoreError                 exit 1: the store could not be read or written

Errors marked ``transient`` (throttling, SMTP 4xx, refused connections) are safe to retry;
everything else is terminal and retrying would only repeat it.
"""

from __future__ import annotations


class GpuledgerError(Exception):
    """Root of every error gpuledger raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient

    def __str__(self) -> str:
        return self.message


class ConfigError(GpuledgerError):
    """The configuration file or environment is invalid."""

    exit_code = 2


class InputError(GpuledgerError):
    """A source file cannot be accepted; names the file, row or column, and what was expected."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
    ) -> None:
        where = [part for part in (file, f"row {row}" if row is not None else None) if part]
        if column:
            where.append(f"column {column!r}")
        text = message if not where else f"{': '.join([', '.join(where), message])}"
        if expected:
            text = f"{text} (expected {expected})"
        super().__init__(text)
        self.file = file
        self.row = row
        self.column = column
        self.expected = expected


class SchemaError(InputError):
    """A frame does not match the canonical table it is meant for."""


class UsageError(GpuledgerError):
    """The command line asked for something that cannot be done as asked."""

    exit_code = 2


class SourceError(GpuledgerError):
    """A billing or telemetry source could not be reached or read."""


class DeliveryError(GpuledgerError):
    """A message could not be delivered."""


class StoreError(GpuledgerError):
    """The ledger store could not be read or written."""
