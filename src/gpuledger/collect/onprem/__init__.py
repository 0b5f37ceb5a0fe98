"""On-premises clusters as a billing source: amortized hardware, fixed costs and measured energy."""

from gpuledger.collect.onprem.collector import ingest

__all__ = ["ingest"]
