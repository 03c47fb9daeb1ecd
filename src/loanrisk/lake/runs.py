"""Run records: per-stage reports and the day's manifest (``runs/D/manifest.json``).

The manifest is deterministic (no wall-clock times), so a rerun of a day rewrites the same
bytes; it is what marks a day published and what the ``pipeline_runs`` view reads.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

from loanrisk import __version__
from loanrisk.config import Settings
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import InputFileError, LoanriskError, ReconciliationError
from loanrisk.lake.faults import crash_point
from loanrisk.lake.storage import (
    CURATED_TABLES,
    Lake,
    lake_of,
    read_json,
    sha256_file,
    write_json_atomic,
)
from loanrisk.quality.contracts import load_contract

MANIFEST_CONTRACTS = (*FEEDS, *CURATED_TABLES)


def stage_report(lake: Lake, business_date: dt.date, stage: str, report: dict) -> dict:
    write_json_atomic(report, lake.stage_report(business_date, stage))
    crash_point(f"stage_report:{stage}")  # a stage boundary: the stage is done and recorded
    return report


def _read_stage(lake: Lake, business_date: dt.date, stage: str) -> dict:
    path = lake.stage_report(business_date, stage)
    if not path.exists():
        raise InputFileError(f"{lake.relative(path)}: stage {stage} has not run for this date")
    return read_json(path)


def previous_published(lake: Lake, business_date: dt.date) -> dict | None:
    """The manifest of the latest published day before ``business_date``, if any."""
    runs = lake.runs_dir
    if not runs.is_dir():
        return None
    for folder in sorted(
        (p for p in runs.iterdir() if p.name < business_date.isoformat()), reverse=True
    ):
        manifest = folder / "manifest.json"
        if manifest.exists() and (document := read_json(manifest)).get("status") == "published":
            return document
    return None


def run_statuses(lake: Lake) -> dict[dt.date, str]:
    """Each run day's status (``published``, ``failed``) from its manifest, by day."""
    found = {}
    for folder in sorted(lake.runs_dir.glob("*")) if lake.runs_dir.is_dir() else []:
        try:
            day = dt.date.fromisoformat(folder.name)
        except ValueError:
            continue
        if (manifest := lake.run_manifest(day)).exists():
            found[day] = read_json(manifest).get("status")
    return found


def _header(business_date: dt.date, settings: Settings, status: str) -> dict:
    return {
        "snapshot_date": business_date.isoformat(),
        "status": status,
        "code_version": __version__,
        "config_hash": settings.config_hash,
        # DESIGN.md §5 v2: the five-category profile whose thresholds classified the day
        "classification_profile": settings.classification.five_category.profile,
        "contract_versions": {
            name: load_contract(settings.contracts_dir, name).version for name in MANIFEST_CONTRACTS
        },
    }


def fail_day(lake: Lake, business_date: dt.date, settings: Settings, error: LoanriskError) -> None:
    """Record a stopped day: a failed manifest, and no published curated output for it."""
    for table in CURATED_TABLES:
        shutil.rmtree(lake.partition("curated", table, business_date), ignore_errors=True)
        lake.partition_inputs("curated", table, business_date).unlink(missing_ok=True)
    manifest = _header(business_date, settings, "failed")
    manifest["failure"] = error.failure()
    write_json_atomic(manifest, lake.run_manifest(business_date))


def _feed_summary(lake: Lake, business_date: dt.date, feed: str) -> dict:
    ingest = _read_stage(lake, business_date, f"ingest_{feed}")
    validate = _read_stage(lake, business_date, f"validate_{feed}")
    return {**{k: v for k, v in ingest.items() if k != "output"}, **validate}


def _extract_output(lake: Lake, extract: dict) -> dict:
    """An extract in the run manifest: its manifest file (which lists and hashes the files)."""
    path = lake.resolve(extract["manifest"])
    rows = sum(f["rows"] for f in extract["files"] if f["path"].endswith(".csv"))
    return {"path": extract["manifest"], "rows": rows, "sha256": sha256_file(path)}


def _regulatory_outputs(lake: Lake, regulatory: dict) -> dict:
    """Curated tables and extract manifests of the regulatory reports built for the day."""
    outputs = {}
    for report, built in sorted(regulatory.items()):
        if "outputs" not in built:
            continue  # e.g. the credit report off its reporting day
        outputs.update({f"curated/{t}": entry for t, entry in built["outputs"].items()})
        manifest = lake.resolve(built["manifest"])
        outputs[f"extracts/regulatory/{report}"] = {
            "path": built["manifest"],
            "sha256": sha256_file(manifest),
        }
    return outputs


def _outputs(lake: Lake, business_date: dt.date, loans: dict, aging: dict, scoring: dict) -> dict:
    """Every table and extract the day published, by its place in the lake."""
    signals = _read_stage(lake, business_date, "compute_signals")
    collections = _read_stage(lake, business_date, "build_collections")
    regulatory = _read_stage(lake, business_date, "build_regulatory")
    return {
        "raw/loan_snapshot": loans["output"],
        # score_loans rewrites loan_aging with the loan-day's stage (DESIGN.md §5 v2)
        "curated/loan_aging": scoring.get("loan_aging", aging["output"]),
        "curated/loan_state": aging["state"],
        "curated/borrower_events_daily": signals["daily"],
        "curated/borrower_devices": signals["borrower_devices"],
        "curated/borrower_transaction_windows": signals["borrower_transaction_windows"],
        "curated/loan_pre_due_flows": signals["loan_pre_due_flows"],
        "curated/borrower_signals": signals["output"],
        "curated/loan_risk": scoring["output"],
        "curated/risk_actions": scoring["actions"],
        "curated/score_monitoring": scoring["monitoring"],
        "extracts/risk_actions": _extract_output(lake, scoring["actions_extract"]),
        "curated/collections_queue": collections["output"],
        "curated/collections_suppressed": collections["suppressed_output"],
        "curated/collections_movements": collections["movements"],
        "extracts/collections": _extract_output(lake, collections["extract"]),
        **_regulatory_outputs(lake, regulatory),
    }


def finalize_run(
    business_date: dt.date, settings: Settings, accepted: dict[str, str] | None = None
) -> dict:
    """Assemble the stage reports into ``runs/D/manifest.json``: the day is published."""
    lake = lake_of(settings)
    feeds = {feed: _feed_summary(lake, business_date, feed) for feed in FEEDS}
    loans = feeds["loan_snapshot"]
    if loans["rows_in"] != loans["rows_valid"] + loans["rows_quarantined"]:
        raise ReconciliationError.rows(
            loans["input"]["file"], loans["rows_in"], loans["rows_valid"], loans["rows_quarantined"]
        )
    aging = _read_stage(lake, business_date, "age_loans")
    scoring = _read_stage(lake, business_date, "score_loans")
    manifest = _header(business_date, settings, "published")
    manifest.update(
        {
            "input_file": loans["input"]["file"],
            "input_sha256": loans["input"]["sha256"],
            "rows_in": loans["rows_in"],
            "rows_out": loans["rows_valid"],
            "rows_valid": loans["rows_valid"],
            "rows_quarantined": loans["rows_quarantined"],
            "outstanding_in": loans["outstanding_in"],
            "outstanding_valid": loans["outstanding_valid"],
            "outstanding_quarantined": loans["outstanding_quarantined"],
            "warnings": loans["warnings"],
            "gates": loans["gates"],
            "accepted_gates": dict(sorted((accepted or {}).items())),
            "history": aging["history"],
            "feeds": feeds,
            "outputs": _outputs(lake, business_date, loans, aging, scoring),
            "scorecard_version": scoring["scorecard_version"],
        }
    )
    write_json_atomic(manifest, lake.run_manifest(business_date))
    return manifest


def as_money(value: Decimal) -> str:
    return f"{value:.2f}"
