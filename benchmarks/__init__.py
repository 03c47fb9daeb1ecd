"""loanrisk benchmark harness: ``python -m benchmarks run|backfill|report`` (see README.md).

Times the daily pipeline stage by stage on synthetic data (wall, CPU, peak RSS), against an
I/O floor (CSV -> Parquet with no logic) and against plain pandas and DuckDB baselines of the
core rules, whose results must equal the pipeline's.
"""
