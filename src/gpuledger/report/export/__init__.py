"""Statement exports: table, CSV, XLSX, JSON and FOCUS."""
