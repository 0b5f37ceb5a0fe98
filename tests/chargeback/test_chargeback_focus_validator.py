"""The FOCUS allocation export passes the FinOps Foundation's own validator (focus-validator).

focus-validator 2.2.x needs Python 3.12 and pins numpy < 2 and pandas < 3, so it runs from a venv
of its own, built once under ``.venv-focus-validator/`` (git-ignored) from pinned requirements.
Its only bundled rule set is FOCUS 1.2, so it runs with ``--validate-version 1.2
--block-download``. It exits 0 even when rules fail: the verdict is read from its JUnit XML.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import polars as pl
import pytest

from gpuledger.config import Settings
from gpuledger.engine.chargeback.build import build_statements
from gpuledger.report.export.render import render
from gpuledger.schema import Cost
from gpuledger.store.delta import Store
from tests.chargeback.ledger import alloc_rows, cost_for, day
from tests.conftest import REPO

VENV = REPO / ".venv-focus-validator"
REQUIREMENTS = ("focus-validator==2.2.1", "pyarrow<20")
READY = VENV / ".gpuledger-ready"

# Rules focus-validator 2.2.1 fails on valid data, each for a reason of its own:
KNOWN_FALSE_POSITIVES = frozenset(
    {
        # "InvoiceId MUST be null for charges not yet invoiced": checked without the condition
        "InvoiceId-C-004-C",
        # "EffectiveCost MUST be 0 for a commitment purchase that covers future charges":
        # the validator drops the "covers future charges" condition
        "EffectiveCost-C-005-C",
        # compares ProviderName with InvoiceIssuerName literally instead of the rule it states
        "BilledCost-C-005-C",
    }
)

OCT = "2026-10"


def _python312() -> str | None:
    """A Python 3.12 that runs: pyenv's own build first (its shim may not resolve in a
    subprocess), then whatever ``python3.12`` is on the PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(pyenv / "versions" / "3.12.*" / "bin" / "python3.12")))
    candidates += [found] if (found := shutil.which("python3.12")) else []
    for candidate in candidates:
        probe = subprocess.run([candidate, "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="session")
def focus_validator() -> Path:
    """The validator's executable in its own venv, built on first use; skips where it cannot be."""
    wanted = "\n".join(REQUIREMENTS)
    if READY.exists() and READY.read_text() == wanted:
        return VENV / "bin" / "focus-validator"
    python = _python312()
    if python is None:
        pytest.skip("focus-validator needs Python 3.12 and no python3.12 is on this machine")
    try:
        subprocess.run([python, "-m", "venv", str(VENV)], check=True, capture_output=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", *REQUIREMENTS],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"could not build the focus-validator venv: {exc}")
    READY.write_text(wanted)
    return VENV / "bin" / "focus-validator"


def invoiced_month(store: Store) -> None:
    """A realistic invoiced month: GPU usage for two teams, idle, credit, tax, unallocated."""
    rows = [
        {"team": "nlp", "cost": "812.456789", "gpu_hours": 120.5, "day": day(OCT, 3)},
        {
            "team": "nlp",
            "model": "mistral",
            "cost": "120.01",
            "cost_type": "idle",
            "day": day(OCT, 4),
        },
        {
            "team": "vision",
            "model": "yolo",
            "cost": "64.5",
            "ResourceId": "i-2",
            "x_GpuModel": "A10G",
        },
        {
            "team": "vision",
            "cost": "-25.00",
            "ChargeCategory": "Credit",
            "cost_type": "credit",
            "ResourceId": None,
            "gpu_hours": 0.0,
        },
        {
            "team": "(unallocated)",
            "model": None,
            "cost": "7.25",
            "cost_type": "unallocated",
            "ResourceId": "i-3",
            "x_GpuModel": None,
        },
        {
            "team": "nlp",
            "cost": "40.12",
            "ChargeCategory": "Tax",
            "cost_type": "tax",
            "ResourceId": None,
            "gpu_hours": 0.0,
            "ServiceName": "Tax",
            "PricingCategory": None,
        },
    ]
    allocation = alloc_rows(OCT, *rows)
    usage = pl.col(Cost.ChargeCategory) == "Usage"
    cost = cost_for(allocation).with_columns(
        pl.lit("INV-2026-10-0001").alias(Cost.x_InvoiceId),
        pl.lit("Example Corp").alias(Cost.BillingAccountName),
        pl.lit("research").alias(Cost.SubAccountName),
        pl.when(pl.col(Cost.ServiceName) == "Tax")
        .then(pl.lit("Other"))
        .otherwise(pl.lit("Compute"))
        .alias(Cost.ServiceCategory),
        pl.lit("us-east-1").alias(Cost.RegionId),
        pl.when(usage).then(pl.lit("SKU-P5")).alias(Cost.SkuId),
        pl.when(usage).then(pl.lit("Virtual Machine")).alias(Cost.ResourceType),
        pl.when(usage).then(pl.lit(24.0)).alias(Cost.PricingQuantity),
        pl.when(usage).then(pl.lit("Hours")).alias(Cost.PricingUnit),
        pl.when(usage).then(pl.lit(24.0)).alias(Cost.ConsumedQuantity),
        pl.when(usage).then(pl.lit("Hours")).alias(Cost.ConsumedUnit),
        pl.col(Cost.BilledCost).alias(Cost.ListCost),
        pl.col(Cost.BilledCost).alias(Cost.ContractedCost),
    )
    store.replace_partitions("allocation", allocation, ["x_BillingPeriod"])
    store.replace_partitions(
        "cost", cost, [Cost.x_Source, Cost.BillingAccountId, Cost.x_BillingPeriod]
    )


def failed_rules(junit: Path) -> dict[str, str]:
    """Rule id → message of every failed or erroring test case in focus-validator's JUnit XML."""
    failed: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        for outcome in case:
            if outcome.tag in ("failure", "error"):
                rule = (case.get("name") or "").split(" :: ")[0]
                failed[rule] = outcome.get("message") or ""
    return failed


@pytest.mark.slow
def test_focus_export_passes_focus_validator(
    store: Store, settings: Settings, focus_validator: Path, tmp_path: Path
) -> None:
    invoiced_month(store)
    export = tmp_path / "allocation-focus.parquet"
    export.write_bytes(render(build_statements(store, settings, OCT), "focus"))
    junit = tmp_path / "focus-junit.xml"
    # the validator opens its currency-code list by a path relative to the working directory
    site_packages = next((VENV / "lib").glob("python3.12/site-packages"))
    result = subprocess.run(
        [
            str(focus_validator),
            "--data-file",
            str(export),
            "--validate-version",
            "1.2",
            "--block-download",
            "--output-type",
            "unittest",
            "--output-destination",
            str(junit),
        ],
        cwd=site_packages,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert junit.exists(), result.stdout + result.stderr
    root = ET.parse(junit).getroot()
    assert int(root.get("tests") or 0) > 500  # the 1.2 rule set really ran
    unexpected = {k: v for k, v in failed_rules(junit).items() if k not in KNOWN_FALSE_POSITIVES}
    assert unexpected == {}, result.stdout[-3000:]
