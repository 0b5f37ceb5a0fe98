"""A tiny FOCUS CSV factory for the FOCUS collector tests: one sound row, overridable per cell."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

BASE_ROW: dict[str, str] = {
    "BilledCost": "12.5",
    "BillingAccountId": "acct-1",
    "BillingAccountName": "Acme",
    "BillingCurrency": "USD",
    "BillingPeriodStart": "2026-05-01T00:00:00Z",
    "BillingPeriodEnd": "2026-06-01T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeClass": "",
    "ChargeDescription": "ND96isr H100 v5",
    "ChargeFrequency": "Usage-Based",
    "ChargePeriodStart": "2026-05-03T00:00:00Z",
    "ChargePeriodEnd": "2026-05-04T00:00:00Z",
    "ContractedCost": "12.5",
    "EffectiveCost": "10.25",
    "InvoiceIssuerName": "Microsoft",
    "ListCost": "14",
    "PricingCategory": "Standard",
    "PricingQuantity": "24",
    "PricingUnit": "Hours",
    "ProviderName": "Microsoft",
    "PublisherName": "Microsoft",
    "ResourceId": "/subscriptions/s1/resourceGroups/ml/providers/Microsoft.Compute/virtualMachines/vm1",
    "ServiceCategory": "Compute",
    "ServiceName": "Virtual Machines",
    "SubAccountId": "/subscriptions/s1",
    "SubAccountName": "ml",
    "Tags": '{"team": "nlp"}',
}


def write_focus_csv(path: Path, *rows: dict[str, Any]) -> Path:
    """A FOCUS CSV whose rows are ``BASE_ROW`` updated with each given dict (``None`` = empty)."""
    full = [
        {**BASE_ROW, **{k: "" if v is None else str(v) for k, v in row.items()}} for row in rows
    ]
    columns = list(dict.fromkeys(key for row in full for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(full)
    return path
