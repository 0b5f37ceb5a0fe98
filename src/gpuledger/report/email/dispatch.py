"""Savings e-mails to team leads and the chargeback notice to finance, each delivered exactly once.

The exactly-once protocol, as :func:`deliver` applies it to every message:

1. **Render.** The content (subject, text, HTML, chart, workbook) is rendered and hashed. The
   message gets a Message-ID derived from its slot and content hash, and is serialized to bytes.
2. **Claim before sending.** In one state transaction, holding the ledger's write lock, the slot
   (team, kind, period-or-week) is looked up in ``email_sends``:

   - no row: insert it as ``sending`` with the content hash, the recipients, the exact message
     bytes and a lease (holder, time): deliver it;
   - ``sent``: done already: skip (re-running sends nothing new, even if the data changed);
   - ``failed``: a permanent failure was recorded: skip (shown by ``gpuledger status``);
   - ``pending``: an earlier run met only transient failures, so nothing reached a mailbox:
     claim it with the current rendering and deliver it;
   - ``sending`` with a live lease: another process is delivering it right now: skip;
   - ``sending`` with an expired lease: the process that claimed it died. Deliver the *stored*
     bytes again (see below).
3. **Deliver.** SMTP with retries and exponential backoff for transient failures (4xx, refused
   or dropped connections, timeouts) within the run.
4. **Record.** After the server's 250: ``sent``. After a permanent failure (5xx, a bad address):
   ``failed`` with the server's answer. After transient failures outlast the retries, or when the
   SMTP settings do not work with the server (login refused, no STARTTLS, untrusted
   certificate: not the message's fault): back to ``pending`` with the last error, for the next
   run.

**The crash window.** A process can die after the server accepted the message and before step 4
committed ``sent``. No local record can tell that apart from dying just before the server
accepted, so one of two promises has to give. gpuledger chooses **at-least-once** for this
window: after the lease expires (15 minutes, longer than any delivery with its retries) the next
run re-delivers the stored bytes. A lost chargeback notice or savings mail is silently wrong; a
duplicate is visibly harmless, and it is byte-identical with the same Message-ID, which mail
clients and many servers use to fold duplicates into one. Outside that window of milliseconds a
crash or restart neither duplicates nor skips a message.

``--dry-run`` renders the same messages into ``.eml`` files and touches no send log.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gpuledger.config import Settings
from gpuledger.errors import ConfigError, DeliveryError
from gpuledger.report.email.delivery import (
    OutboxTransport,
    ServerSetupError,
    Transport,
    checked_address,
)
from gpuledger.report.email.digest import FINANCE, finance_digest, team_digests
from gpuledger.report.email.log import Claim, Decision, Draft, SendLog, SlotKey
from gpuledger.report.email.message import (
    Rendered,
    build_message,
    chargeback_content,
    message_id,
    savings_content,
)
from gpuledger.store.delta import Store
from gpuledger.store.state import StateDB

log = logging.getLogger("gpuledger.email")

SAVINGS = "savings"
CHARGEBACK = "chargeback"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outgoing:
    """One message to deliver: its slot, recipients and rendered content."""

    key: SlotKey
    recipients: tuple[str, ...]
    content: Rendered


@dataclass(frozen=True)
class Outcome:
    key: SlotKey
    recipients: tuple[str, ...]
    result: str  # sent | resent | written | skipped | failed | retry-later
    detail: str = ""


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def leads(settings: Settings, team: str | None = None) -> dict[str, str]:
    """Team → lead address for configured teams that have a lead (only ``team`` if given)."""
    chosen = {name: cfg.lead for name, cfg in settings.teams.items() if cfg.lead}
    if team is not None:
        return {team: chosen[team]} if team in chosen else {}
    return chosen


def invoice_final(store: Store, period: str) -> bool:
    """Closed, or every billing account's invoice for the period is marked final.

    The chargeback notice waits for this: its slot is used once, so sending it on provisional
    figures would use up the slot before the real numbers exist.
    """
    if store.state.is_closed(period):
        return True
    rows = [p for p in store.state.billing_periods() if p["period"] == period]
    return bool(rows) and all(p["invoiced"] for p in rows)


def summary(outcomes: list[Outcome]) -> str:
    """``2 sent, 1 skipped`` — for logs and scheduler run records."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    return ", ".join(f"{n} {result}" for result, n in sorted(counts.items())) or "nothing to send"


def savings_mail(
    store: Store, settings: Settings, period: str, label: str, team: str | None = None
) -> list[Outgoing]:
    """One savings message per team lead; ``label`` is the period or the ISO week it is for."""
    recipients = leads(settings, team)
    digests = team_digests(store, settings, period, sorted(recipients))
    return [
        Outgoing(SlotKey(d.team, SAVINGS, label), (recipients[d.team],), savings_content(d, label))
        for d in digests
    ]


def chargeback_mail(store: Store, settings: Settings, period: str) -> list[Outgoing]:
    """Finance's notice for ``period``, when finance recipients are configured."""
    finance = tuple(settings.email.finance)
    if not finance:
        return []
    digest = finance_digest(store, settings, period, final=invoice_final(store, period))
    content = chargeback_content(digest)
    return [Outgoing(SlotKey(FINANCE, CHARGEBACK, period), finance, content)]


def draft(item: Outgoing, sender: str, now: datetime) -> Draft:
    """Serialize a message; an unusable address still yields a draft, recorded as failed."""
    content_hash = item.content.content_hash()
    msg_id = message_id(
        f"{item.key.team}\0{item.key.kind}\0{item.key.period}", content_hash, sender
    )
    try:
        raw = build_message(
            item.content, sender=sender, recipients=item.recipients, msg_id=msg_id, date=now
        )
    except DeliveryError:
        raw = b""
    return Draft(item.key, content_hash, msg_id, item.recipients, raw)


def deliver(
    state: StateDB,
    items: list[Outgoing],
    transport: Transport,
    sender: str,
    *,
    clock: Clock = utc_now,
    holder: str | None = None,
) -> list[Outcome]:
    """Deliver each message once per slot, following the protocol in the module doc."""
    _check_sender(sender)
    sends = SendLog(state, holder=holder or f"{socket.gethostname()}:{os.getpid()}")
    return [_deliver_one(sends, item, transport, sender, clock) for item in items]


def _deliver_one(
    sends: SendLog, item: Outgoing, transport: Transport, sender: str, clock: Clock
) -> Outcome:
    claim = sends.claim(draft(item, sender, clock()), clock())
    if claim.decision is Decision.skip:
        log.info("%s: skipped, %s", item.key, claim.reason)
        return Outcome(item.key, item.recipients, "skipped", claim.reason)
    try:
        if not claim.message:
            raise DeliveryError(f"bad address among {list(claim.recipients)}", transient=False)
        note = transport.deliver(claim.message, sender, claim.recipients, _file_name(claim))
    except DeliveryError as exc:
        return _record_failure(sends, claim, exc, clock())
    sends.mark_sent(claim.key, clock(), note or None)
    result = "resent" if claim.decision is Decision.resend else "sent"
    log.info("%s: %s to %s %s", item.key, result, ", ".join(claim.recipients), note)
    return Outcome(item.key, claim.recipients, result, note)


def _record_failure(sends: SendLog, claim: Claim, exc: DeliveryError, now: datetime) -> Outcome:
    if exc.transient or isinstance(exc, ServerSetupError):
        sends.mark_pending(claim.key, now, str(exc))
        log.warning("%s: not delivered yet, next run retries: %s", claim.key, exc)
        return Outcome(claim.key, claim.recipients, "retry-later", str(exc))
    sends.mark_failed(claim.key, now, str(exc))
    log.error("%s: failed permanently: %s", claim.key, exc)
    return Outcome(claim.key, claim.recipients, "failed", str(exc))


def write_outbox(
    items: list[Outgoing], folder: Path, sender: str, *, clock: Clock = utc_now
) -> list[Outcome]:
    """--dry-run: every message as an ``.eml`` file, no send log touched."""
    _check_sender(sender)
    outbox = OutboxTransport(folder)
    outcomes = []
    for item in items:
        built = draft(item, sender, clock())
        if not built.message:
            outcomes.append(Outcome(item.key, item.recipients, "failed", "bad address"))
            continue
        name = f"{item.key.period}-{item.key.kind}-{item.key.team}"
        outbox.deliver(built.message, sender, item.recipients, name)
        outcomes.append(Outcome(item.key, item.recipients, "written", str(outbox.written[-1])))
    return outcomes


def _check_sender(sender: str) -> None:
    """A bad sender is the config's fault, not any message's: refuse the run, record nothing."""
    try:
        checked_address(sender)
    except DeliveryError as exc:
        raise ConfigError(f"smtp.sender: {exc}") from exc


def _file_name(claim: Claim) -> str:
    return f"{claim.key.period}-{claim.key.kind}-{claim.key.team}"
