"""Pipeline stages: read inputs -> pure transform -> write outputs.

Each stage is a function of the business date and the settings, called identically by the CLI
and by the Airflow DAG. A stage records what it did in ``runs/D/stages/<stage>.json``;
``finalize_run`` assembles those into ``runs/D/manifest.json``, which marks the day published.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from loanrisk import __version__
from loanrisk.aging import loan_aging
from loanrisk.config import Settings
from loanrisk.contracts import Contract, load_contract
from loanrisk.errors import ContractViolationError, InputFileError
from loanrisk.parsing import read_landing
from loanrisk.rules import contract_rules, find_violations
from loanrisk.storage import (
    Lake,
    read_json,
    sha256_file,
    write_json_atomic,
    write_partition,
)
from loanrisk.warehouse import refresh_warehouse

STAGES = ("ingest_loans", "age_loans", "publish_warehouse")


def lake_of(settings: Settings) -> Lake:
    return Lake(data_root=settings.data_root, landing_dir=settings.landing_dir)


def snapshot_contract(settings: Settings) -> Contract:
    return load_contract(settings.contracts_dir, "loan_snapshot")


def _record(lake: Lake, business_date: dt.date, stage: str, report: dict) -> dict:
    write_json_atomic(report, lake.stage_report(business_date, stage))
    return report


def _output(lake: Lake, path: Path, rows: int) -> dict:
    return {"path": lake.relative(path), "rows": rows, "sha256": sha256_file(path)}


def _landing_path(lake: Lake, contract: Contract, business_date: dt.date) -> Path:
    csv = lake.landing_file(contract.landing_file_name(business_date.isoformat()))
    parquet = csv.with_suffix(".parquet")
    return parquet if not csv.exists() and parquet.exists() else csv


def ingest_loans(business_date: dt.date, settings: Settings) -> dict:
    """Landing loans file -> typed ``lake/raw/loan_snapshot/snapshot_date=D``.

    Every contract rule is checked; a file breaking any rule stops the day with all the broken
    rules in one line (row-level quarantine comes with the validation stage).
    """
    lake, contract = lake_of(settings), snapshot_contract(settings)
    path = _landing_path(lake, contract, business_date)
    typed = read_landing(path, contract, settings.pipeline.input_encoding)
    rules = contract_rules(
        contract,
        business_date,
        enum_overrides={"product_code": settings.pipeline.products},
        maximums={"annual_interest_rate": settings.pipeline.annual_interest_rate_cap},
    )
    violations = find_violations(typed, [r for r in rules if not r.warning])
    if violations:
        raise ContractViolationError(path.name, violations)
    warnings = find_violations(typed, [r for r in rules if r.warning])
    snapshot = typed.select(contract.column_names).sort("loan_id")
    written = write_partition(
        snapshot, lake.partition("raw", "loan_snapshot", business_date), lake.scratch
    )
    return _record(
        lake,
        business_date,
        "ingest_loans",
        {
            "input": {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)},
            "rows_in": typed.height,
            "rows_out": snapshot.height,
            "rows_quarantined": 0,
            "warnings": {f"{w.code}:{w.column}": w.rows for w in warnings},
            "output": _output(lake, written, snapshot.height),
        },
    )


def age_loans(business_date: dt.date, settings: Settings) -> dict:
    """Raw snapshot -> ``lake/curated/loan_aging/snapshot_date=D`` (DESIGN.md §5 rules)."""
    lake = lake_of(settings)
    source = lake.partition_file("raw", "loan_snapshot", business_date)
    if not source.exists():
        raise InputFileError(f"{lake.relative(source)}: not ingested yet; run ingest_loans first")
    aging_contract = load_contract(settings.contracts_dir, "loan_aging")
    aged = (
        loan_aging(pl.scan_parquet(source), settings.classification)
        .select(pl.col(c.name).cast(c.dtype) for c in aging_contract.columns)
        .sort("loan_id")
        .collect()
    )
    written = write_partition(
        aged, lake.partition("curated", "loan_aging", business_date), lake.scratch
    )
    mismatches = aged.filter(pl.col("dpd") != pl.col("days_past_due_reported")).height
    return _record(
        lake,
        business_date,
        "age_loans",
        {
            "rows_out": aged.height,
            "warnings": {"DPD_MISMATCH:days_past_due": mismatches},
            "output": _output(lake, written, aged.height),
        },
    )


def publish_warehouse(business_date: dt.date, settings: Settings) -> dict:
    """Refresh the BI views of ``warehouse.duckdb`` over every published partition."""
    lake = lake_of(settings)
    path = refresh_warehouse(lake, snapshot_contract(settings))
    return _record(lake, business_date, "publish_warehouse", {"warehouse": lake.relative(path)})


def finalize_run(business_date: dt.date, settings: Settings) -> dict:
    """Assemble the stage reports into ``runs/D/manifest.json``: the day is published."""
    lake = lake_of(settings)
    reports = {}
    for stage in STAGES:
        path = lake.stage_report(business_date, stage)
        if not path.exists():
            raise InputFileError(f"{lake.relative(path)}: stage {stage} has not run for this date")
        reports[stage] = read_json(path)
    ingest = reports["ingest_loans"]
    manifest = {
        "snapshot_date": business_date.isoformat(),
        "status": "published",
        "code_version": __version__,
        "config_hash": settings.config_hash,
        "contract_versions": {
            name: load_contract(settings.contracts_dir, name).version
            for name in ("loan_snapshot", "loan_aging")
        },
        "input_file": ingest["input"]["file"],
        "input_sha256": ingest["input"]["sha256"],
        "rows_in": ingest["rows_in"],
        "rows_out": ingest["rows_out"],
        "rows_quarantined": ingest["rows_quarantined"],
        "warnings": {**ingest["warnings"], **reports["age_loans"]["warnings"]},
        "outputs": {
            "raw/loan_snapshot": ingest["output"],
            "curated/loan_aging": reports["age_loans"]["output"],
        },
    }
    write_json_atomic(manifest, lake.run_manifest(business_date))
    # The manifest is new: republish so pipeline_runs shows this day too.
    refresh_warehouse(lake, snapshot_contract(settings))
    return manifest


def run_day(business_date: dt.date, settings: Settings) -> dict:
    """Every stage of one business day, in order; returns the run manifest."""
    ingest_loans(business_date, settings)
    age_loans(business_date, settings)
    publish_warehouse(business_date, settings)
    return finalize_run(business_date, settings)
