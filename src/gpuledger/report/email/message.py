"""Digests to MIME messages: Jinja templates shipped in the package, inline chart, attachments.

Header safety: nothing from the data (team, model or recommendation text) is ever written into a
header. Subjects are fixed text plus a period or week label that is checked against its pattern,
addresses pass :func:`checked_address`, and the standard library's ``email.policy.default``
refuses CR or LF in any header value as a second line of defence. In the HTML part every value is
escaped by Jinja's autoescape.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Final

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape

from gpuledger.report.email.delivery import checked_address
from gpuledger.report.email.digest import FinanceDigest, TeamDigest

CHART_CID = "daily-spend@gpuledger"
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
_LABEL = re.compile(r"^\d{4}-(0[1-9]|1[0-2]|W(0[1-9]|[1-4]\d|5[0-3]))$")
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True)
class Part:
    """A binary part: an inline image (``cid`` set) or an attachment (``filename`` set)."""

    maintype: str
    subtype: str
    data: bytes
    cid: str | None = None
    filename: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A message's content before addressing: what the content hash covers."""

    subject: str
    text: str
    html: str
    parts: tuple[Part, ...] = ()

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for chunk in (self.subject, self.text, self.html):
            _feed(digest, chunk.encode())
        for part in self.parts:
            for field in (part.maintype, part.subtype, part.cid or "", part.filename or ""):
                _feed(digest, field.encode())
            _feed(digest, part.data)
        return digest.hexdigest()


def _feed(digest: hashlib._Hash, chunk: bytes) -> None:
    """Length-prefixed, so that moving bytes between fields changes the hash."""
    digest.update(len(chunk).to_bytes(8, "big"))
    digest.update(chunk)


def money(value: Decimal | None, currency: str) -> str:
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    amount = f"{abs(value):,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{amount} {currency}"


def signed_money(value: Decimal | None, currency: str) -> str:
    if value is None:
        return "–"
    return ("+" if value > 0 else "") + money(value, currency)


EMAIL_TEMPLATES: Final = "gpuledger.report.email"  # the package whose templates/ hold _layout.html


def template_environment(*packages: str) -> Environment:
    """Jinja templates of ``packages`` (each one's ``templates/``) and then of the e-mails
    (``_layout.html``), escaped in HTML, strict about missing values, with the money filters."""
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader(package, "templates") for package in (*packages, EMAIL_TEMPLATES)]
        ),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["money"] = money
    env.filters["signed_money"] = signed_money
    return env


_ENV = template_environment()


def checked_label(label: str) -> str:
    """A period (YYYY-MM) or ISO week (YYYY-Www): the only data allowed into a subject."""
    if not _LABEL.fullmatch(label):
        raise ValueError(f"not a period or ISO week label: {label!r}")
    return label


def savings_content(digest: TeamDigest, label: str) -> Rendered:
    """A team lead's savings mail; ``label`` is the week (scheduled) or the period (on demand)."""
    from gpuledger.report.email.chart import daily_spend_png  # matplotlib: loaded when drawn

    weekly = "W" in checked_label(label)
    subject = (
        f"GPU spend and savings, week {label}" if weekly else f"GPU spend and savings, {label}"
    )
    context = {"d": digest, "label": label, "weekly": weekly, "chart_cid": CHART_CID}
    chart = Part("image", "png", daily_spend_png(digest.daily, digest.currency), cid=CHART_CID)
    return Rendered(
        subject=subject,
        text=_ENV.get_template("savings.txt").render(context),
        html=_ENV.get_template("savings.html").render(context),
        parts=(chart,),
    )


def chargeback_content(digest: FinanceDigest) -> Rendered:
    """Finance's monthly notice, with the statement workbook attached."""
    period = checked_label(digest.period)
    context = {"d": digest}
    workbook = Part(*XLSX_TYPE, digest.xlsx, filename=f"gpuledger-chargeback-{period}.xlsx")
    return Rendered(
        subject=f"GPU chargeback statements, {period}",
        text=_ENV.get_template("chargeback.txt").render(context),
        html=_ENV.get_template("chargeback.html").render(context),
        parts=(workbook,) if digest.xlsx else (),
    )


def message_id(slot: str, content_hash: str, sender: str) -> str:
    """Derived from the slot and content, so a re-delivery carries the very same Message-ID."""
    token = hashlib.sha256(f"{slot}\0{content_hash}".encode()).hexdigest()[:32]
    return f"<{token}@{sender.rpartition('@')[2]}>"


def build_message(
    content: Rendered, *, sender: str, recipients: tuple[str, ...], msg_id: str, date: datetime
) -> bytes:
    """multipart/alternative (text, html with related images), inside multipart/mixed if attached."""
    message = EmailMessage()
    message["Subject"] = content.subject
    message["From"] = checked_address(sender)
    message["To"] = ", ".join(checked_address(r) for r in recipients)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = msg_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    html = message.get_body(("html",))
    assert html is not None
    for part in content.parts:
        if part.cid:
            html.add_related(part.data, part.maintype, part.subtype, cid=f"<{part.cid}>")
    for part in content.parts:
        if part.filename:
            message.add_attachment(
                part.data, maintype=part.maintype, subtype=part.subtype, filename=part.filename
            )
    return message.as_bytes(policy=SMTP)
