"""Run manifests (``runs/D/manifest.json``): a published day's, assembled from the steps' typed
records (``loanrisk.lake.records``), and the failed manifest of a stopped day.

The manifest is deterministic (no wall-clock times), so a rerun of a day rewrites the same
bytes; it is what marks a day published and what the ``pipeline_runs`` view reads.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from decimal import Decimal

from loanrisk import __version__
from loanrisk.config import Settings
from loanrisk.domain.feeds import FEEDS, LOANS
from loanrisk.errors import LoanriskError, ReconciliationError
from loanrisk.lake import records
from loanrisk.lake.shards import day_shards
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


def _document(record: records.Record) -> dict:
    return record.model_dump(mode="json", exclude_unset=True)


def _feed_summary(lake: Lake, business_date: dt.date, feed: str) -> dict:
    """A feed in the manifest: its ingest record (without the staging path) and validation."""
    ingested = records.read_record(lake, business_date, f"ingest_{feed}", records.Ingested)
    validated = records.read_record(lake, business_date, f"validate_{feed}", records.Validated)
    staged = {k: v for k, v in _document(ingested).items() if k != "output"}
    return {**staged, **_document(validated)}


def _written(entry: records.Written) -> dict:
    return _document(entry)


def _extract_output(lake: Lake, extract: records.ExtractWritten) -> dict:
    """An extract in the run manifest: its manifest file (which lists and hashes the files)."""
    path = lake.resolve(extract.manifest)
    rows = sum(f.rows for f in extract.files if f.path.endswith(".csv"))
    return {"path": extract.manifest, "rows": rows, "sha256": sha256_file(path)}


def _regulatory_outputs(lake: Lake, regulatory: records.Regulatory) -> dict:
    """Curated tables and extract manifests of the regulatory reports built for the day."""
    outputs = {}
    for report, built in sorted(regulatory.reports.items()):
        if built.outputs is None or built.manifest is None:
            continue  # e.g. the credit report off its reporting day
        outputs.update({f"curated/{t}": _written(entry) for t, entry in built.outputs.items()})
        outputs[f"extracts/regulatory/{report}"] = {
            "path": built.manifest,
            "sha256": sha256_file(lake.resolve(built.manifest)),
        }
    return outputs


def _outputs(
    lake: Lake, business_date: dt.date, loans: records.Validated, aging: records.Aged
) -> dict:
    """Every table and extract the day published, by its place in the lake."""
    read = functools.partial(records.read_record, lake, business_date)
    signals = read("compute_signals", records.Signals)
    scoring = read("score_loans", records.Scored)
    collections = read("build_collections", records.Collections)
    regulatory = read("build_regulatory", records.Regulatory)
    return {
        "raw/loan_snapshot": _written(loans.output),
        # score_loans rewrites loan_aging with the loan-day's stage (DESIGN.md §5 v2)
        "curated/loan_aging": _written(scoring.loan_aging or aging.output),
        "curated/loan_state": _written(aging.state),
        "curated/borrower_events_daily": _written(signals.daily),
        "curated/borrower_devices": _written(signals.borrower_devices),
        "curated/borrower_transaction_windows": _written(signals.borrower_transaction_windows),
        "curated/loan_pre_due_flows": _written(signals.loan_pre_due_flows),
        "curated/borrower_signals": _written(signals.output),
        "curated/loan_risk": _written(scoring.output),
        "curated/risk_actions": _written(scoring.actions),
        "curated/score_monitoring": _written(scoring.monitoring),
        "extracts/risk_actions": _extract_output(lake, scoring.actions_extract),
        "curated/collections_queue": _written(collections.output),
        "curated/collections_suppressed": _written(collections.suppressed_output),
        "curated/collections_movements": _written(collections.movements),
        "extracts/collections": _extract_output(lake, collections.extract),
        **_regulatory_outputs(lake, regulatory),
    }


def write_run_manifest(
    business_date: dt.date,
    settings: Settings,
    accepted: dict[str, str] | None = None,
    reason: str | None = None,
) -> dict:
    """Assemble the day's step records into ``runs/D/manifest.json``: the day is published."""
    lake = lake_of(settings)
    feeds = {feed: _feed_summary(lake, business_date, feed) for feed in FEEDS}
    ingested = records.read_record(lake, business_date, f"ingest_{LOANS}", records.Ingested)
    loans = records.read_record(lake, business_date, f"validate_{LOANS}", records.Validated)
    if loans.rows_in != loans.rows_valid + loans.rows_quarantined:
        raise ReconciliationError.rows(
            ingested.input.file, loans.rows_in, loans.rows_valid, loans.rows_quarantined
        )
    aging = records.read_record(lake, business_date, "age_loans", records.Aged)
    manifest = _header(business_date, settings, "published")
    manifest.update(
        {
            "input_file": ingested.input.file,
            "input_sha256": ingested.input.sha256,
            "rows_in": loans.rows_in,
            "rows_out": loans.rows_valid,
            "rows_valid": loans.rows_valid,
            "rows_quarantined": loans.rows_quarantined,
            "outstanding_in": loans.outstanding_in,
            "outstanding_valid": loans.outstanding_valid,
            "outstanding_quarantined": loans.outstanding_quarantined,
            "warnings": loans.warnings,
            "gates": loans.gates,
            "accepted_gates": dict(sorted((accepted or {}).items())),
            "history": _document(aging.history),
            "feeds": feeds,
            "outputs": _outputs(lake, business_date, loans, aging),
            "scorecard_version": records.read_record(
                lake, business_date, "score_loans", records.Scored
            ).scorecard_version,
            # how the day ran, not what it published: comparisons of outputs set it aside
            "execution": day_shards(lake, business_date, settings.execution),
        }
    )
    # Against the published version (a rerun's shadow may hold its own failed attempt).
    history = restatement_history(lake.published.run_manifest(business_date), manifest, reason)
    if history:
        manifest["restatements"] = history
    write_json_atomic(manifest, lake.run_manifest(business_date))
    return manifest


def _output_hashes(manifest: dict) -> dict[str, str]:
    return {name: entry["sha256"] for name, entry in sorted(manifest["outputs"].items())}


def restatement_history(path, new: dict, reason: str | None) -> list[dict]:
    """The day's restatement history (DESIGN.md §5b): the published version at ``path`` kept
    as an entry when ``new`` changes its input or an output; unchanged reruns add nothing."""
    old = read_json(path) if path.exists() else {}
    history = list(old.get("restatements", []))
    if old.get("status") != "published":
        return history
    before, after = _output_hashes(old), _output_hashes(new)
    if old.get("input_sha256") == new["input_sha256"] and before == after:
        return history
    entry = {
        "replaced_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "reason": reason or "rerun",
        "previous_input_sha256": old.get("input_sha256"),
        "previous_outputs": before,
    }
    return [*history, entry]


def record_after_publishing(lake: Lake, business_date: dt.date, step: str, error: str) -> None:
    """A step that failed after the day was published, in its manifest (``status`` shows it)."""
    path = lake.run_manifest(business_date)
    if path.exists() and (manifest := read_json(path)).get("status") == "published":
        manifest["after_publishing"] = {"step": step, "error": error[:500]}
        write_json_atomic(manifest, path)


def clear_after_publishing(lake: Lake, business_date: dt.date, step: str) -> None:
    """The step recorded as failed after publishing has now succeeded."""
    path = lake.run_manifest(business_date)
    if not path.exists():
        return
    manifest = read_json(path)
    if (manifest.get("after_publishing") or {}).get("step") == step:
        del manifest["after_publishing"]
        write_json_atomic(manifest, path)


def as_money(value: Decimal) -> str:
    return f"{value:.2f}"
