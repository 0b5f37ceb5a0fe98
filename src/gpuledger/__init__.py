"""gpuledger: GPU FinOps cost analyzer and chargeback."""
