"""The Data health page lists telemetry with no billed instance, per source and host."""

from __future__ import annotations

from tests.app.conftest import AppFactory, LedgerFiles, table
from tests.engine.attribute_helpers import busy, usage_frame


def test_health_page_lists_telemetry_with_no_billed_instance(
    own_ledger: LedgerFiles, open_app: AppFactory
) -> None:
    at = open_app(own_ledger, "views/health.py")
    assert "All telemetry names the instance it was billed as." in [c.value for c in at.caption]

    unjoined = busy(  # an hour of a pod on a DCGM host that kube_node_info did not describe
        "batch-0", host="gpu-box-7", source="dcgm", x_BillingPeriod="2026-10", ResourceId=None
    )
    own_ledger.store().append("gpu_usage", usage_frame(unjoined).collect())
    at = open_app(own_ledger, "views/health.py")
    shown = table(at, "host", "source", "periods", "gpu_hours")
    assert shown.to_dict("records") == [
        {"host": "gpu-box-7", "source": "dcgm", "periods": "2026-10", "gpu_hours": 1.0},
        {"host": "Total", "source": "—", "periods": "—", "gpu_hours": 1.0},
    ]
