"""E-mail delivery: hand finished message bytes to an SMTP server, or to an outbox folder for --dry-run.

Every SMTP failure becomes a :class:`DeliveryError` marked transient or not, because that mark
decides what happens next: transient ones (a 4xx reply, a refused or dropped connection, a
timeout) are retried with exponential backoff and, if they persist, left for the next run;
permanent ones (a 5xx reply, an unusable address, a server without STARTTLS) are recorded once
and never retried, since sending the same thing again would only get the same answer.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from gpuledger.config import SmtpConfig
from gpuledger.errors import DeliveryError

log = logging.getLogger("gpuledger.email")

# A plain addr-spec: no display name, no quoting, and above all no CR, LF or comma, so a value
# from the config file can never add a header or a recipient.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


def checked_address(address: str) -> str:
    """The address if it is a plain ``local@domain``; a permanent DeliveryError otherwise."""
    if not _ADDRESS.fullmatch(address):
        raise DeliveryError(f"bad address {address!r}: expected local@domain", transient=False)
    return address


class ServerSetupError(DeliveryError):
    """The SMTP settings do not work with this server: login refused, no STARTTLS, untrusted TLS.

    Not the message's fault, so its slot is not failed for good: it goes back to pending and the
    first run after the settings are fixed delivers it. Retrying within the run would only repeat
    the refusal, so it is not transient either.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


class Transport(Protocol):
    def deliver(self, message: bytes, sender: str, recipients: Sequence[str], name: str) -> str:
        """Deliver ``message``; return a note on partial refusals ('' when all accepted)."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient SMTP failure is retried within one run."""

    attempts: int = 4
    wait_initial: float = 2.0
    wait_max: float = 60.0


class SmtpTransport:
    """The standard library's SMTP client with STARTTLS or implicit TLS and optional login."""

    def __init__(self, config: SmtpConfig, retry: RetryPolicy = RetryPolicy()) -> None:
        self.config = config
        self.retry = retry
        self.attempts = 0  # SMTP conversations started, for logs and tests

    def deliver(self, message: bytes, sender: str, recipients: Sequence[str], name: str) -> str:
        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential(multiplier=self.retry.wait_initial, max=self.retry.wait_max),
            retry=retry_if_exception(_is_transient),
            reraise=True,
            before_sleep=_log_retry,
        )
        note: str = retrying(self._once, message, sender, list(recipients))
        return note

    def _once(self, message: bytes, sender: str, recipients: list[str]) -> str:
        self.attempts += 1
        try:
            with self._session() as smtp:
                refused = smtp.sendmail(sender, recipients, message)
        except smtplib.SMTPAuthenticationError as exc:
            raise ServerSetupError(
                f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise ServerSetupError(f"SMTP server: {exc}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise ServerSetupError(f"SMTP TLS certificate: {exc}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            raise _reply_error(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise DeliveryError(f"SMTP connection: {exc}", transient=True) from exc
        if not refused:
            return ""
        return "refused: " + ", ".join(f"{a} ({c} {_text(m)})" for a, (c, m) in refused.items())

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        """A connected, secured and logged-in session, closed however the conversation ends."""
        config = self.config
        smtp = (
            smtplib.SMTP_SSL(
                config.host,
                config.port,
                timeout=config.timeout_seconds,
                context=ssl.create_default_context(),
            )
            if config.ssl
            else smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        )
        with smtp:
            if config.starttls and not config.ssl:
                smtp.starttls(context=ssl.create_default_context())
            password = config.password
            if config.username and password is not None:
                smtp.login(config.username, password.get_secret_value())
            yield smtp


class OutboxTransport:
    """--dry-run: write each message as ``<name>.eml`` into a folder instead of sending it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.written: list[Path] = []

    def deliver(self, message: bytes, sender: str, recipients: Sequence[str], name: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}.eml"
        path.write_bytes(message)
        self.written.append(path)
        return ""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.transient


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning("SMTP attempt %d failed (%s); retrying", state.attempt_number, error)


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else message


def _reply_error(code: int, message: bytes | str) -> DeliveryError:
    """4xx replies are temporary by RFC 5321 (try again later); 5xx ones are final."""
    return DeliveryError(f"SMTP {code} {_text(message)}", transient=400 <= code < 500)


def _refused(recipients: dict[str, tuple[int, bytes]]) -> DeliveryError:
    """Every recipient was refused: transient only if every refusal was a 4xx."""
    transient = all(400 <= code < 500 for code, _ in recipients.values())
    detail = ", ".join(f"{a}: {c} {_text(m)}" for a, (c, m) in recipients.items())
    return DeliveryError(f"SMTP refused recipients: {detail}", transient=transient)
