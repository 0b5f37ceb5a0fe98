"""Run as a separate process: deliver one message, then die before the send log records it.

``python -m tests.email.crash_send HOME PORT`` delivers the nlp savings mail to the SMTP server on
PORT and exits with status 3 at the moment ``mark_sent`` would commit: the crash window between
the server's 250 and the record, with nothing cleaned up (``os._exit``).
"""

from __future__ import annotations

import os
import sys

from gpuledger.config import SmtpConfig
from gpuledger.report.email.delivery import RetryPolicy, SmtpTransport
from gpuledger.report.email.dispatch import deliver
from gpuledger.report.email.log import SendLog
from gpuledger.store.delta import Store
from tests.email.email_factories import savings

CRASH_STATUS = 3


def main(home: str, port: int) -> None:
    def die(*args: object, **kwargs: object) -> None:
        os._exit(CRASH_STATUS)

    SendLog.mark_sent = die  # type: ignore[method-assign]
    config = SmtpConfig(host="127.0.0.1", port=port, starttls=False, sender="gpuledger@example.com")
    transport = SmtpTransport(config, RetryPolicy(attempts=1))
    deliver(Store(home).state, [savings("nlp", "lead-nlp@example.com")], transport, config.sender)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
