"""The sample company's billing accounts and regions, shared by its model and charges."""

from __future__ import annotations

ACCOUNTS = {
    "AWS": [
        ("999999999999", "acme-payer", "111111111111", "ml-prod"),
        ("999999999999", "acme-payer", "222222222222", "ml-dev"),
    ],
    "GCP": [
        ("01A2B3-C4D5E6-F7A8B9", "Acme GCP billing", "acme-vision-prod", "Acme Vision Prod"),
        ("01A2B3-C4D5E6-F7A8B9", "Acme GCP billing", "acme-ml-research", "Acme ML Research"),
    ],
    "Microsoft": [
        ("8611537", "Acme EA", "5a7c1d2e-3f40-4b5c-8d6e-7f8091a2b3c4", "acme-azure-ml"),
    ],
}

REGIONS = {"AWS": ("us-east-1", "us-east-1a"), "GCP": ("us-central1", "us-central1-a")}
REGIONS["Microsoft"] = ("eastus", "eastus-1")
