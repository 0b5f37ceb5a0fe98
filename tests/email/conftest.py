"""Fixtures of the e-mail tests: a real SMTP server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.email.smtp_testserver import SmtpServer, start_server


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    controller, server = start_server()
    try:
        yield server
    finally:
        controller.stop()
