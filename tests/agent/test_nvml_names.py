"""MIG instances: their profile from the device name, their share of the parent by compute slices."""

from __future__ import annotations

import pytest

from gpuledger.agent.nvml import mig_compute_share, mig_profile


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("NVIDIA A100-SXM4-40GB MIG 3g.20gb", "3g.20gb"),
        ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "1g.10gb"),
        ("NVIDIA H100 80GB HBM3 MIG 1g.20gb+me", "1g.20gb+me"),
        ("NVIDIA H100 80GB HBM3", None),
    ],
    ids=["a100-3g", "h100-1g", "media-extension", "whole-gpu"],
)
def test_mig_profile(name: str, profile: str | None) -> None:
    assert mig_profile(name) == profile


@pytest.mark.parametrize(
    ("profile", "parent", "share"),
    [
        ("3g.40gb", "NVIDIA H100 80GB HBM3", 3 / 7),
        ("7g.80gb", "NVIDIA H100 80GB HBM3", 1.0),
        ("1g.10gb", "NVIDIA A100-SXM4-80GB", 1 / 7),
        ("2g.12gb", "NVIDIA A30", 2 / 4),
    ],
    ids=["h100-3g", "h100-whole", "a100-1g", "a30-2g"],
)
def test_mig_compute_share(profile: str, parent: str, share: float) -> None:
    assert mig_compute_share(profile, parent) == pytest.approx(share)
