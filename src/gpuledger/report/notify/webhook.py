"""The webhook POST: httpx with retries for what may be retried, and a URL that is never shown.

Every outcome of a POST falls in one of three classes, because the class decides what the send
log records:

- **delivered**: a 2xx answer;
- **not delivered** (:class:`DeliveryError`): the request never reached the server (connection
  refused, DNS, connect timeout: transient) or the server answered that it did not take it
  (5xx and 429: transient; any other 4xx: permanent, sending it again gets the same answer).
  Transient ones are retried here with exponential backoff, honouring ``Retry-After``;
- **unknown** (:class:`UnconfirmedError`): the request was sent and no answer came (read timeout,
  connection dropped mid-answer). The server may have posted it; posting again could show it
  twice, so it is not retried.

The URL is a secret (its path is the credential): it is never logged, printed or part of an error
message; messages name only its scheme and host. httpx's own request log line carries the full
URL, so the ``httpx`` logger's records for this URL are redacted by :class:`RedactUrl`.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from gpuledger.errors import DeliveryError

log = logging.getLogger("gpuledger.notify")


class UnconfirmedError(DeliveryError):
    """The POST went out and no answer came: it may or may not have been posted."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True)
class WebhookRetry:
    """How often and how patiently a transient webhook failure is retried within one run."""

    attempts: int = 4
    wait_initial: float = 2.0  # seconds before the second attempt, doubled before each later one
    wait_max: float = 60.0  # also the most a server's Retry-After is waited
    timeout: float = 10.0  # seconds per attempt
    sleep: Callable[[float], None] = time.sleep


class _Refused(DeliveryError):
    """An answer other than 2xx, with the wait its Retry-After header asks for."""

    def __init__(self, status: int, where: str, retry_after: float | None) -> None:
        transient = status == 429 or status >= 500
        super().__init__(f"webhook {where} answered HTTP {status}", transient=transient)
        self.retry_after = retry_after


def redacted(url: str) -> str:
    """``https://hooks.slack.com/…``: what may be said about the URL."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}/…"


class RedactUrl(logging.Filter):
    """Replaces the secret URL in log records (httpx logs every request with its URL)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.shown = redacted(url)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(arg) for arg in record.args)
        record.msg = self._clean(record.msg)
        return True

    def _clean(self, value: object) -> object:
        text = str(value) if isinstance(value, httpx.URL) else value
        if isinstance(text, str) and self.url in text:
            return text.replace(self.url, self.shown)
        return value


class WebhookSender:
    """POSTs JSON bodies to one incoming-webhook URL."""

    def __init__(
        self,
        url: SecretStr,
        retry: WebhookRetry = WebhookRetry(),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url
        self.where = redacted(url.get_secret_value())
        self.retry = retry
        self._transport = transport
        self._tls: ssl.SSLContext | None = None
        self.attempts = 0  # POSTs started, for logs and tests

    def _tls_context(self) -> ssl.SSLContext:
        """One TLS context for all posts: loading the CA bundle costs ~90 ms of CPU each time.

        Each post still opens a connection of its own: a kept-alive one that the server closed
        meanwhile would fail in a way that cannot be told from a lost answer (unconfirmed).
        """
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    def post(self, body: bytes) -> None:
        """POST ``body``; raises DeliveryError (not delivered) or UnconfirmedError (unknown)."""
        url = self._url.get_secret_value()
        redact = RedactUrl(url)
        httpx_log = logging.getLogger("httpx")
        httpx_log.addFilter(redact)
        try:
            with httpx.Client(
                timeout=self.retry.timeout, transport=self._transport, verify=self._tls_context()
            ) as client:
                retrying = Retrying(
                    stop=stop_after_attempt(self.retry.attempts),
                    wait=self._wait,
                    retry=retry_if_exception(_is_transient),
                    reraise=True,
                    sleep=self.retry.sleep,
                    before_sleep=self._log_retry,
                )
                retrying(self._once, client, url, body)
        finally:
            httpx_log.removeFilter(redact)

    def _once(self, client: httpx.Client, url: str, body: bytes) -> None:
        self.attempts += 1
        try:
            answer = client.post(url, content=body, headers={"Content-Type": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise DeliveryError(
                f"webhook {self.where}: could not connect ({type(exc).__name__})", transient=True
            ) from None
        except httpx.TransportError as exc:
            raise UnconfirmedError(
                f"webhook {self.where}: sent, but no answer ({type(exc).__name__}); it may have"
                " been posted, so it is not sent again"
            ) from None
        if not answer.is_success:
            raise _Refused(answer.status_code, self.where, _retry_after(answer))

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff, or the server's Retry-After when it asks for longer."""
        backoff = self.retry.wait_initial * 2.0 ** (state.attempt_number - 1)
        failure = state.outcome.exception() if state.outcome else None
        asked = failure.retry_after if isinstance(failure, _Refused) else None
        return float(min(max(backoff, asked or 0.0), self.retry.wait_max))

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning("webhook attempt %d failed (%s); retrying", state.attempt_number, failure)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.transient


def _retry_after(answer: httpx.Response) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by chat webhooks)."""
    value = answer.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
