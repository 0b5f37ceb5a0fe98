"""E-mail: savings digests and chargeback notices, rendered and delivered exactly once."""
