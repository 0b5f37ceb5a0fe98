"""Real (and provider-realistic) FOCUS exports ingest and reconcile to their published totals.

The expected sums are the exact decimal totals from the samples' READMEs
(``tests/fixtures/focus/README.md``), not values computed by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest

from gpuledger.collect.focus import collector as focus
from gpuledger.config import Settings
from gpuledger.errors import InputError
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.conftest import FIXTURES

FOCUS = FIXTURES / "focus"
D = Decimal

# (file, provider, period start, rows, billed, effective, list, contracted)
TOTALS = [
    ("focus-1.0-sample.csv.gz", "AWS", "2024-09-01", 942, D("18.00663861840"), D("13.00000000000"),
     D("18.14931764060"), D("13.00000000000")),
    ("focus-1.0-sample.csv.gz", "Microsoft", "2024-09-01", 51, D("1.97651418586"),
     D("1.97651418586"), D("1.97651418586"), D("1.97626039326")),
    ("focus-1.0-sample.csv.gz", "Oracle", "2024-09-01", 6, D("0.29707392473"), D("0"),
     D("0.02507392473"), None),
    ("focus-1.0-sample.csv.gz", "Oracle", "2024-10-01", 1, D("0.24"), D("0"), D("0.24"), None),
    ("focus-1.2-synthetic-aws.csv.gz", "AWS", "2026-05-01", 1000, D("18857.124623679033750"),
     D("18857.124623679033750"), D("27576.916662847891262"), D("26371.600646117433750")),
    ("focus-1.2-synthetic-azure.csv.gz", "Microsoft Azure", "2026-05-01", 1000,
     D("49321.108200244240000"), D("49321.108200244240000"), D("67975.715046077600000"),
     D("64424.911299028240000")),
    ("focus-1.2-synthetic-gcp.csv.gz", "Google Cloud", "2026-05-01", 1000,
     D("31758.210633880783500"), D("31758.210633880783500"), D("43203.214435794915000"),
     D("41299.111356910383500")),
]  # fmt: skip


def _stored_totals(store: Store) -> pl.DataFrame:
    return (
        store.read("cost")
        .group_by(Cost.ProviderName, Cost.BillingPeriodStart)
        .agg(
            pl.len().alias("rows"),
            pl.col(Cost.BilledCost).sum(),
            pl.col(Cost.EffectiveCost).sum(),
            pl.col(Cost.ListCost).sum(),
            pl.col(Cost.ContractedCost).sum(),
            pl.col(Cost.ContractedCost).null_count().alias("contracted_nulls"),
        )
    )


@pytest.mark.parametrize(
    ("file", "provider", "period", "rows", "billed", "effective", "listed", "contracted"),
    TOTALS,
    ids=[f"{t[0].split('.csv')[0]}-{t[1]}-{t[2]}" for t in TOTALS],
)
def test_real_export_reconciles_to_published_totals(
    store: Store,
    settings: Settings,
    file: str,
    provider: str,
    period: str,
    rows: int,
    billed: Decimal,
    effective: Decimal,
    listed: Decimal,
    contracted: Decimal | None,
) -> None:
    result = focus.ingest(store, settings, str(FOCUS / file))

    assert result.quarantined == 0
    start = datetime.fromisoformat(period).replace(tzinfo=UTC)
    got = _stored_totals(store).filter(
        (pl.col(Cost.ProviderName) == provider) & (pl.col(Cost.BillingPeriodStart) == start)
    )
    assert got.height == 1
    row = got.row(0, named=True)
    assert row["rows"] == rows
    assert row[Cost.BilledCost] == billed
    assert row[Cost.EffectiveCost] == effective
    assert row[Cost.ListCost] == listed
    if contracted is None:
        assert row["contracted_nulls"] == rows
    else:
        assert row[Cost.ContractedCost] == contracted


@pytest.mark.parametrize(
    ("file", "version"),
    [
        ("focus-1.0-sample.csv.gz", "1.0"),
        ("focus-1.2-synthetic-azure.csv.gz", "1.2"),
    ],
    ids=["1.0", "1.2"],
)
def test_version_is_read_from_the_header(file: str, version: str) -> None:
    from gpuledger.collect.files import SourceFile
    from gpuledger.collect.focus.spec import detect_version

    frame = focus.read_table(SourceFile(str(FOCUS / file), 0))
    assert detect_version(frame.columns) == version


@pytest.mark.parametrize(
    "example",
    ["flexibility-1-resource.csv", "purchase-scenario-2.csv"],
    ids=["flexibility", "purchase"],
)
def test_spec_examples_without_mandatory_columns_are_refused_and_store_unchanged(
    store: Store, settings: Settings, example: str
) -> None:
    focus.ingest(store, settings, str(FOCUS / "focus-1.0-sample.csv.gz"))
    version = store.version("cost")

    with pytest.raises(InputError) as caught:
        focus.ingest(store, settings, str(FOCUS / "spec-examples" / example))

    message = str(caught.value)
    assert example in message
    assert "missing mandatory column(s) BillingAccountId, BillingAccountName, BillingCurrency" in (
        message
    )
    assert caught.value.exit_code == 2
    assert store.version("cost") == version
    assert store.read("cost").height == 1000
    assert store.state.ingest_runs(1)[0].status == "failed"


def test_sample_gpu_rows_get_catalog_facts(store: Store, settings: Settings) -> None:
    focus.ingest(store, settings, str(FOCUS / "focus-1.0-sample.csv.gz"))

    gpu = (
        store.read("cost")
        .filter(pl.col(Cost.x_GpuModel).is_not_null())
        .group_by(Cost.x_InstanceType, Cost.x_GpuModel, Cost.x_GpuCount)
        .agg(pl.len().alias("rows"), pl.col(Cost.BilledCost).sum())
    )
    # README: 8 g5.4xlarge rows (1 x A10G); g3.4xlarge (M60) is not in the GPU catalog.
    assert gpu.to_dicts() == [
        {
            Cost.x_InstanceType: "g5.4xlarge",
            Cost.x_GpuModel: "A10G",
            Cost.x_GpuCount: 1,
            "rows": 8,
            Cost.BilledCost: D("10.203682944"),
        }
    ]
