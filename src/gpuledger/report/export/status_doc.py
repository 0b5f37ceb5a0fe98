"""`gpuledger status` as JSON and CSV under the one JSON rule (:mod:`.json_rule`).

``gpuledger.report.health`` keeps amounts as decimal text and the telemetry counts as text (its
``Health.as_dict()`` sections are the input here, export being below health); here amounts become money in their row's currency and counts integers, so the
status document reads like every other command's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from gpuledger.report.export.json_rule import json_bytes, money
from gpuledger.report.export.tabular import Column, Tabular, tabular_csv

MONEY_KEYS: Final = frozenset(
    {"billed_cost", "effective_cost", "cost", "allocated", "unallocated", "amount"}
)
COUNT_KEYS: Final = frozenset({"rows", "gpus", "hosts"})
BILLING_COLUMNS: Final = (
    Column("x_BillingPeriod", "period"),
    Column("x_Source", "source", drop=2),
    Column("ProviderName", "provider"),
    Column("BillingAccountId", "account", drop=4, wrap=True),
    Column("rows", "rows", "count", drop=3),
    Column("billed_cost", "billed", "decimal", drop=1),
    Column("effective_cost", "effective", "decimal"),
    Column("currency", "currency", drop=5),
    Column("state", "state"),
)


def _value(key: str, value: object, currency: str) -> object:
    if key in MONEY_KEYS and isinstance(value, str | Decimal | int) and not isinstance(value, bool):
        return money(Decimal(str(value)), currency)
    if key in COUNT_KEYS and isinstance(value, str):
        return int(value)
    return _plain(value, currency)


def _plain(value: object, currency: str) -> object:
    """``value`` under the rule: dicts by key (a row's own ``currency`` prices its amounts)."""
    if isinstance(value, Mapping):
        own = str(value.get("currency") or currency)
        return {key: _value(key, item, own) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, currency) for item in value]
    if isinstance(value, Decimal):
        return money(value, currency)
    return value


def status_document(home: str, sections: Mapping[str, object], currency: str) -> dict[str, object]:
    """The status object: the ledger home and every health section, amounts as money text in
    their row's currency (else ``currency``, the reporting one), counts as integers."""
    return {"home": home, **{key: _plain(value, currency) for key, value in sections.items()}}


def status_json(home: str, sections: Mapping[str, object], currency: str) -> bytes:
    return json_bytes(status_document(home, sections, currency))


def billing_tabular(cost_partitions: Sequence[Mapping[str, Any]], currency: str) -> Tabular:
    """The billing data table: one row per source, account and month, amounts in the row's
    currency, ``invoiced`` or ``provisional``."""
    rows = [
        {
            **row,
            "billed_cost": money(Decimal(row["billed_cost"] or 0), row["currency"] or currency),
            "effective_cost": money(
                Decimal(row["effective_cost"] or 0), row["currency"] or currency
            ),
            "state": "invoiced" if row["invoiced"] else "provisional",
        }
        for row in cost_partitions
    ]
    return Tabular("Billing data", BILLING_COLUMNS, rows, currency)


def status_csv(cost_partitions: Sequence[Mapping[str, Any]], currency: str) -> bytes:
    """The billing data table as CSV."""
    return tabular_csv(billing_tabular(cost_partitions, currency))
