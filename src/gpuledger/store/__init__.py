"""Storage: Delta tables, operational state (SQLite / PostgreSQL) and the telemetry index."""
