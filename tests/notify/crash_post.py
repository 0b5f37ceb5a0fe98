"""Run as a separate process: post one alert to the webhook, then die before the log records it.

``python -m tests.notify.crash_post STATE URL`` posts the factory's anomaly and exits with status 3
at the moment ``mark_sent`` would commit: the crash window between the chat's 200 and the
record, with nothing cleaned up (``os._exit``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import SecretStr

from gpuledger.report.notify.deliver import Channels, deliver_alerts
from gpuledger.report.notify.webhook import WebhookSender
from gpuledger.report.notify.webhook_log import WebhookLog
from gpuledger.store.state import StateDB
from tests.notify.alert_factories import anomaly, settings

CRASH_STATUS = 3


def main(state: str, url: str) -> None:
    def die(*args: object, **kwargs: object) -> None:
        os._exit(CRASH_STATUS)

    WebhookLog.mark_sent = die  # type: ignore[method-assign]
    channels = Channels(
        mail=None, sender="gpuledger@example.com", webhook=WebhookSender(SecretStr(url))
    )
    deliver_alerts(StateDB(Path(state)), settings(), [anomaly()], channels)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
