"""Hand-built e-mail content for the e-mail tests: digests with known numbers, no engine needed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gpuledger.report.email.digest import (
    FINANCE,
    DailySpend,
    FinanceDigest,
    RecommendationLine,
    TeamCharge,
    TeamDigest,
)
from gpuledger.report.email.dispatch import Outgoing
from gpuledger.report.email.log import SlotKey
from gpuledger.report.email.message import chargeback_content, savings_content


def recommendation(
    id: str = "rec-1",
    *,
    status: str = "new",
    saving: str = "1200.00",
    model: str | None = "llama-3-70b",
    action: str = "Run the nightly fine-tune on spot capacity",
) -> RecommendationLine:
    return RecommendationLine(
        id=id,
        kind="spot",
        status=status,
        model=model,
        action=action,
        confidence="high",
        monthly_saving=Decimal(saving),
        evidence=(("gpu hours", "1,240.0"), ("interruptions tolerated", "yes")),
    )


def team_digest(team: str = "nlp", **changes: object) -> TeamDigest:
    values: dict[str, object] = {
        "team": team,
        "period": "2026-10",
        "currency": "USD",
        "spend": Decimal("12345.67"),
        "previous_spend": Decimal("10000.00"),
        "waste": Decimal("2100.50"),
        "daily": tuple(
            DailySpend(date(2026, 10, day), Decimal(300 + 10 * day), Decimal(40))
            for day in range(1, 8)
        ),
        "recommendations": (recommendation(),),
        "hidden_recommendations": 0,
        "open_saving": Decimal("1200.00"),
        "app_url": f"http://gpuledger.example/recommendations?team={team}&period=2026-10",
    }
    values.update(changes)
    return TeamDigest(**values)  # type: ignore[arg-type]


def savings(team: str, lead: str, label: str = "2026-10", **changes: object) -> Outgoing:
    digest = team_digest(team, **changes)
    return Outgoing(SlotKey(team, "savings", label), (lead,), savings_content(digest, label))


def finance_digest(**changes: object) -> FinanceDigest:
    values: dict[str, object] = {
        "period": "2026-10",
        "currency": "USD",
        "invoice_total": Decimal("30000.00"),
        "adjustment_total": Decimal("0"),
        "teams": (
            TeamCharge("nlp", Decimal("20000.00"), Decimal("0"), Decimal("20000.00")),
            TeamCharge("(unallocated)", Decimal("10000.00"), Decimal("0"), Decimal("10000.00")),
        ),
        "xlsx": b"PK\x03\x04 workbook bytes",
        "app_url": "http://gpuledger.example/chargeback?period=2026-10",
        "final": True,
    }
    values.update(changes)
    return FinanceDigest(**values)  # type: ignore[arg-type]


def finance(recipients: tuple[str, ...] = ("finance@example.com",)) -> Outgoing:
    content = chargeback_content(finance_digest())
    return Outgoing(SlotKey(FINANCE, "chargeback", "2026-10"), recipients, content)
