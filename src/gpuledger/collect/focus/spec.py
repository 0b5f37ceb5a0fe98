"""What the FOCUS specification says about a file's columns: version, mandatory columns, values.

Part of ``collect/focus``: before any row is mapped, the header of a FOCUS export is checked here.
The version is read from the columns themselves (an export does not say which version it is):

* 1.2 added ``BillingAccountType``, ``SubAccountType``, ``InvoiceId`` and the ``PricingCurrency*``
  columns;
* 1.1 added ``CapacityReservation*``, ``CommitmentDiscountQuantity/Unit``, ``ServiceSubcategory``,
  ``SkuMeter`` and ``SkuPriceDetails``;
* 1.0 is the 43 columns without those; the 1.0 preview spelled four of them differently, and
  those are renamed to their 1.0 names.

Allowed values are compared case-insensitively and rewritten to the spec's spelling (real exports
write ``Usage-based`` for ``Usage-Based``); any other value is a row the ingest quarantines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from gpuledger.errors import InputError

V1_1_COLUMNS: Final = frozenset(
    {
        "CapacityReservationId",
        "CapacityReservationStatus",
        "CommitmentDiscountQuantity",
        "CommitmentDiscountUnit",
        "ServiceSubcategory",
        "SkuMeter",
        "SkuPriceDetails",
    }
)
V1_2_COLUMNS: Final = frozenset(
    {
        "BillingAccountType",
        "SubAccountType",
        "InvoiceId",
        "PricingCurrency",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
    }
)

# FOCUS 1.0-preview names that 1.0 renamed.
PREVIEW_RENAMES: Final[Mapping[str, str]] = {
    "InvoiceIssuer": "InvoiceIssuerName",
    "Provider": "ProviderName",
    "Publisher": "PublisherName",
    "ResourceID": "ResourceId",
}

# Mandatory in every FOCUS 1.x version (conditional columns are checked per row instead).
MANDATORY: Final = frozenset(
    {
        "BilledCost",
        "BillingAccountId",
        "BillingAccountName",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "ContractedCost",
        "EffectiveCost",
        "InvoiceIssuerName",
        "ListCost",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "ServiceCategory",
        "ServiceName",
    }
)

# Columns whose values the spec enumerates; null is allowed where the column is nullable.
ALLOWED_VALUES: Final[Mapping[str, tuple[str, ...]]] = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "PricingCategory": ("Standard", "Dynamic", "Committed", "Other"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "CommitmentDiscountStatus": ("Used", "Unused"),
    "CapacityReservationStatus": ("Used", "Unused"),
    "ServiceCategory": (
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    ),
}

# Columns that must hold a value on every row (the rest may be null on some charges).
NOT_NULL: Final = (
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "ProviderName",
)


def detect_version(columns: Iterable[str]) -> str:
    """The FOCUS version a header belongs to: ``1.2``, ``1.1``, ``1.0`` or ``1.0-preview``."""
    present = set(columns)
    if present & V1_2_COLUMNS:
        return "1.2"
    if present & V1_1_COLUMNS:
        return "1.1"
    preview = [name for name in PREVIEW_RENAMES if name in present]
    if preview and not any(PREVIEW_RENAMES[name] in present for name in preview):
        return "1.0-preview"
    return "1.0"


def check_header(columns: Iterable[str], file: str) -> str:
    """Check a header against the spec; return its version or raise naming what is missing.

    Column names are compared exactly: FOCUS names are case-sensitive, and a file with
    ``billedcost`` is not a FOCUS file.
    """
    names = [PREVIEW_RENAMES.get(name, name) for name in columns]
    version = detect_version(columns)
    missing = sorted(MANDATORY - set(names))
    if missing:
        raise InputError(
            f"not a FOCUS {version} cost and usage file: missing mandatory column(s) "
            f"{', '.join(missing)}",
            file=file,
            expected="every mandatory FOCUS column (1.0, 1.1 or 1.2)",
        )
    return version
