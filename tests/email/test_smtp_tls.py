"""STARTTLS, implicit TLS and login, against a real TLS-speaking SMTP server on 127.0.0.1.

The client uses the system's trust store (``ssl.create_default_context``); the tests point
OpenSSL's ``SSL_CERT_FILE`` at their self-signed certificate to make it trusted, or leave it
untrusted to see the refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from gpuledger.report.email.delivery import RetryPolicy, SmtpTransport
from gpuledger.report.email.dispatch import deliver
from gpuledger.report.email.log import SlotStatus, send_records
from gpuledger.store.delta import Store
from tests.email.email_factories import savings
from tests.email.smtp_testserver import SmtpServer, start_server
from tests.email.tls_testcert import server_context, write_certificate

pytestmark = pytest.mark.slow

NO_WAIT = RetryPolicy(attempts=2, wait_initial=0, wait_max=0)


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"gpuledger",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)  # unhandled: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["starttls", "ssl"])
def tls_server(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> Iterator[tuple[str, SmtpServer]]:
    context = server_context(*certificate)
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True}
        if request.param == "starttls"
        # aiosmtpd counts only STARTTLS as TLS when it decides whether to offer AUTH; an
        # implicit-TLS connection is encrypted all the same
        else {"ssl_context": context, "auth_require_tls": False}
    )
    controller, server = start_server(authenticator=authenticator, **options)
    try:
        yield request.param, server
    finally:
        controller.stop()


@pytest.mark.parametrize(
    ("trusted", "password", "result", "error"),
    [
        (True, None, "sent", None),
        (True, "s3cret", "sent", None),
        (True, "wrong", "retry-later", "SMTP login refused: 535"),
        (False, None, "retry-later", "SMTP TLS certificate"),
    ],
    ids=["encrypted", "encrypted-login", "login-refused", "untrusted-certificate"],
)
def test_tls_modes(
    store: Store,
    tls_server: tuple[str, SmtpServer],
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    trusted: bool,
    password: str | None,
    result: str,
    error: str | None,
) -> None:
    mode, server = tls_server
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    if password:
        monkeypatch.setenv("GPULEDGER_SMTP_PASSWORD", password)
    config = server.config.model_copy(
        update={
            "starttls": mode == "starttls",
            "ssl": mode == "ssl",
            "username": "gpuledger" if password else None,
        }
    )
    transport = SmtpTransport(config, NO_WAIT)

    outcomes = deliver(store.state, [savings("nlp", "lead@example.com")], transport, config.sender)

    assert [o.result for o in outcomes] == [result]
    assert transport.attempts == 1  # setup problems are not retried within the run
    if result == "sent":
        (received,) = server.handler.received
        assert received.tls
    else:
        assert error is not None
        assert outcomes[0].detail.startswith(error)
        (record,) = send_records(store.state)
        assert record.status is SlotStatus.pending
