"""A savings mail for a month whose billing data has not arrived says so, never "$0.00, -100 %"."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpuledger.config import Settings
from gpuledger.report.email.digest import team_digests
from gpuledger.report.email.message import savings_content
from gpuledger.schema import Alloc
from gpuledger.store.delta import Store
from tests.chargeback.ledger import write_month

NOT_ARRIVED = "The billing data for 2026-10 has not arrived yet"


@pytest.fixture
def september_only(store: Store) -> Store:
    write_month(store, "2026-09", {Alloc.team: "nlp", Alloc.cost: "1000.00"})
    return store


def test_the_digest_of_a_month_without_data_has_no_spend(
    september_only: Store, settings: Settings
) -> None:
    (digest,) = team_digests(september_only, settings, "2026-10", ["nlp"])
    assert (digest.has_data, digest.spend, digest.change, digest.change_percent) == (
        False,
        None,
        None,
        None,
    )
    assert digest.previous_spend == Decimal("1000.00")


@pytest.mark.parametrize("label", ["2026-W41", "2026-10"], ids=["weekly", "monthly"])
def test_the_mail_says_the_data_has_not_arrived(
    september_only: Store, settings: Settings, label: str
) -> None:
    (digest,) = team_digests(september_only, settings, "2026-10", ["nlp"])
    content = savings_content(digest, label)
    for body in (content.text, content.html):
        assert NOT_ARRIVED in body
        assert "$0.00" not in body
        assert "-100" not in body
        assert "GPU waste" not in body


def test_a_month_with_data_shows_its_figures(september_only: Store, settings: Settings) -> None:
    (digest,) = team_digests(september_only, settings, "2026-09", ["nlp"])
    text = savings_content(digest, "2026-09").text
    assert "GPU spend:       $1,000.00" in text
    assert NOT_ARRIVED.replace("2026-10", "2026-09") not in text
