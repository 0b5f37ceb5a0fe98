"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1) whose replies a test can script."""

from __future__ import annotations

import socket
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from gpuledger.config import SmtpConfig


def free_port() -> int:
    """aiosmtpd's Controller cannot bind port 0, so ask the kernel for a free port first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool = False  # the session was encrypted (STARTTLS or implicit TLS)


@dataclass
class ScriptedHandler:
    """Answers RCPT and DATA from queues of scripted replies; accepts when a queue is empty."""

    rcpt_replies: deque[str] = field(default_factory=deque)
    data_replies: deque[str] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    rcpt_seen: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        self.rcpt_seen.append(address)
        if self.rcpt_replies:
            return self.rcpt_replies.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.popleft()
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content,
                tls=server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    handler: ScriptedHandler
    port: int

    @property
    def config(self) -> SmtpConfig:
        return SmtpConfig(
            host="127.0.0.1", port=self.port, starttls=False, sender="gpuledger@example.com"
        )


def start_server(**smtp_options: Any) -> tuple[Controller, SmtpServer]:
    """A started server; ``smtp_options`` go to aiosmtpd (tls_context, ssl_context, authenticator)."""
    handler = ScriptedHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    return controller, SmtpServer(handler, port)
