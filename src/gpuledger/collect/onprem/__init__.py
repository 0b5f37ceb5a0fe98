"""On-premises clusters as a billing source: amortized hardware, fixed costs and measured energy."""
