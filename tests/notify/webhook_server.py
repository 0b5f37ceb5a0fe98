"""A real HTTP server on 127.0.0.1 standing in for a chat's incoming webhook.

It records every POST and answers from a script of replies (status, headers, seconds to wait
before answering); with the script empty it answers 200. A POST counts as *received* (shown in
the chat) only when it was answered 2xx.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET_PATH = "/services/T0001/B0002/SeCrEtToKeN42"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before answering: longer than the client's timeout is no answer


@dataclass
class Hook:
    port: int
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[tuple[str, bytes, int]] = field(default_factory=list)  # path, body, status

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{SECRET_PATH}"

    @property
    def received(self) -> list[dict[str, Any]]:
        """The bodies the chat showed: those answered 2xx."""
        return [json.loads(body) for _, body, status in self.requests if 200 <= status < 300]


def _handler(hook: Hook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply = hook.replies.popleft() if hook.replies else Reply()
            hook.requests.append((self.path, body, reply.status))
            time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def webhook_server() -> Iterator[Hook]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Hook(0)))
    hook = Hook(server.server_address[1])
    server.RequestHandlerClass = _handler(hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
