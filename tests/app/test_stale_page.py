"""The chargeback page refuses a month whose allocation is older than its inputs (issue #19 item 10)."""

from __future__ import annotations

from gpuledger.config import load_settings
from gpuledger.engine.attribution.attribute import run_attribution
from gpuledger.engine.chargeback.freshness import input_versions, record_attribution
from gpuledger.schema import Cost
from tests.app.conftest import AppFactory, LedgerFiles
from tests.app.ledger import october


def test_a_stale_month_shows_the_refusal_not_old_numbers(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    store = own_ledger.store()
    versions = input_versions(store)
    result = run_attribution(store, load_settings(own_ledger.config), "2026-10")
    record_attribution(store, "2026-10", versions, result.version)
    fresh = open_app(own_ledger)
    assert not fresh.error
    assert fresh.metric

    store.replace_partitions("cost", october(), [Cost.x_Source, Cost.x_BillingPeriod])
    stale = open_app(own_ledger)

    assert "allocation of 2026-10 is stale" in stale.error[0].value
    assert "gpuledger attribute --period 2026-10" in stale.error[0].value
    assert not stale.metric
