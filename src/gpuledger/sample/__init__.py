"""Sample data: a fictional company's exports in the real source formats (see ``company.py``).

``write_sample`` builds the company once and hands it to each format writer, so every file agrees
with every other: the same instance ids on the bills and in the telemetry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from gpuledger.period import Period
from gpuledger.sample.company import Company, build_company

# (folder under the output, writer module, writer function): one per source format.
WRITERS: tuple[tuple[str, str, str], ...] = (
    ("aws", "gpuledger.sample.aws_cur2", "write_aws_cur2"),
    ("gcp", "gpuledger.sample.gcp_export", "write_gcp_export"),
    ("azure", "gpuledger.sample.focus_export", "write_focus_export"),
    ("gpu", "gpuledger.sample.gpu_telemetry", "write_gpu_telemetry"),
    ("slurm", "gpuledger.sample.slurm", "write_slurm_accounting"),
)


def sample_months(period: str, count: int = 2) -> list[str]:
    """``count`` months ending with ``period`` (YYYY-MM), oldest first."""
    month = Period.parse(period)
    months = []
    for _ in range(count):
        months.append(str(month))
        month = month.previous()
    return months[::-1]


def write_sample(
    out: Path, *, scale: float = 1, seed: int = 7, period: str = "2026-10"
) -> dict[str, list[Path]]:
    """Write every format for the company at ``scale`` into ``out/<format>/``."""
    company = build_company(scale, seed, sample_months(period))
    written: dict[str, list[Path]] = {}
    for folder, module_name, function_name in WRITERS:
        writer: Callable[[Company, Path], list[Path]] = getattr(
            importlib.import_module(module_name), function_name
        )
        target = out / folder
        target.mkdir(parents=True, exist_ok=True)
        written[folder] = writer(company, target)
    return written
