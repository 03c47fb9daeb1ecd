"""Storage: the lake's paths and atomic writes, the extracts, the DuckDB warehouse, the run lock,
the run records (stage reports and manifests) and the borrower shards."""
