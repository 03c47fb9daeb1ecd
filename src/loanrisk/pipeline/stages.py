"""Pipeline stages: read inputs -> pure transform -> write outputs.

Each stage is a function of the business date and the settings, called identically by the CLI
and by the Airflow DAG. A stage records what it did in ``runs/D/stages/<stage>.json``;
``finalize_run`` assembles those into ``runs/D/manifest.json``, which marks the day published.
A stage that stops the day (a batch gate, a broken file) writes a failed manifest first.
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from pathlib import Path

from loanrisk.config import Settings
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import GateError, InputFileError, LandingFileError, LoanriskError
from loanrisk.lake.runs import fail_day, finalize_run, previous_published, stage_report
from loanrisk.lake.shards import Shard
from loanrisk.lake.storage import Lake, lake_of, read_json, write_partition
from loanrisk.lake.warehouse import refresh_warehouse
from loanrisk.pipeline import signals_stage
from loanrisk.pipeline.aging_stage import (
    age_day,
    age_shard,
    combine_aging,
    previous_state_date,
    recompute_later_days,
    recomputed_days,
)
from loanrisk.pipeline.risk_stage import combine_scores, score_day, score_shard
from loanrisk.pipeline.stage_log import logged
from loanrisk.pipeline.validation_stage import check_feed
from loanrisk.quality.contracts import Contract, load_contract
from loanrisk.quality.parsing import extra_columns, read_text_and_facts
from loanrisk.report.validation_docs import build_validation_docs

__all__ = [
    "FEEDS",
    "age_loans",
    "ingest_feed",
    "publish_day",
    "publish_warehouse",
    "validate_feed",
]


log_stage = logged(lake_of)


def contract_of(settings: Settings, feed: str) -> Contract:
    return load_contract(settings.contracts_dir, feed)


def stops_day(stage):
    """When a stage stops the day (a gate, a GX/quarantine mismatch, a count that does not
    reconcile), record the failed day (manifest, nothing published), then re-raise."""

    @functools.wraps(stage)
    def wrapper(business_date: dt.date, settings: Settings, *args, **kwargs):
        try:
            return stage(business_date, settings, *args, **kwargs)
        except LoanriskError as exc:
            lake = lake_of(settings)
            fail_day(lake, business_date, settings, exc)
            refresh_warehouse(lake, settings.contracts_dir, settings.classification)
            build_validation_docs(lake, business_date)  # the stopped day's diagnosis
            raise

    return wrapper


def landing_path(lake: Lake, contract: Contract, business_date: dt.date) -> Path:
    csv = lake.landing_file(contract.landing_file_name(business_date.isoformat()))
    parquet = csv.with_suffix(".parquet")
    return parquet if not csv.exists() and parquet.exists() else csv


@log_stage
@stops_day
def ingest_feed(business_date: dt.date, settings: Settings, feed: str) -> dict:
    """Landing file -> ``lake/staging/<feed>/snapshot_date=D``: every field as text.

    File gates (missing, unreadable, empty, column missing) stop the day for a required feed;
    an optional feed that is missing is a warning.
    """
    lake, contract = lake_of(settings), contract_of(settings, feed)
    path = landing_path(lake, contract, business_date)
    stage = f"ingest_{feed}"
    try:
        text, facts = read_text_and_facts(path, contract, settings.pipeline.input_encoding)
    except LandingFileError as exc:
        if exc.gate == "FILE_MISSING" and not contract.required_feed:
            shutil.rmtree(lake.partition("staging", feed, business_date), ignore_errors=True)
            report = {"status": "missing", "input": {"file": path.name}}
            return stage_report(lake, business_date, stage, report)
        raise GateError(exc.gate, path.name, exc.detail.split(": ", 1)[-1]) from None
    # One row group: validation reads the text back as one chunk per column, which it needs,
    # instead of rechunking it (at 10M rows 7 s and twice the text's memory; 1 s more here).
    staging = lake.partition("staging", feed, business_date)
    written = write_partition(text, staging, lake.scratch, one_row_group=True)
    report = {
        "status": "staged",
        "input": {"file": path.name, "bytes": path.stat().st_size, "sha256": facts.sha256},
        "rows_in": text.height,
        "extra_columns": extra_columns(path, contract),
        "output": lake.relative(written),
    }
    return stage_report(lake, business_date, stage, report)


@log_stage
@stops_day
def validate_feed(
    business_date: dt.date, settings: Settings, feed: str, accepted: dict[str, str] | None = None
) -> dict:
    """Staged text -> typed valid rows in ``lake/raw`` + rejected rows in ``lake/quarantine``,
    checked by Great Expectations, warnings counted, batch gates applied."""
    lake = lake_of(settings)
    staged = read_json(lake.stage_report(business_date, f"ingest_{feed}"))
    if staged["status"] == "missing":
        for zone in ("raw", "quarantine"):
            shutil.rmtree(lake.partition(zone, feed, business_date), ignore_errors=True)
        report = {"status": "missing", "warnings": {f"FEED_MISSING:{feed}": 1}}
        return stage_report(lake, business_date, f"validate_{feed}", report)
    previous, contract = previous_published(lake, business_date), contract_of(settings, feed)
    report = check_feed(lake, settings, contract, business_date, staged, previous, accepted or {})
    return stage_report(lake, business_date, f"validate_{feed}", report)


@log_stage
@stops_day
def age_loans(business_date: dt.date, settings: Settings, allow_gap: bool = False) -> dict:
    """Valid snapshot + previous day's state -> ``lake/curated/loan_aging`` and
    ``lake/curated/loan_state`` (DESIGN.md §5); with ``shards: K > 1``, from the K parts
    ``age_loans_shard`` wrote."""
    lake, count = lake_of(settings), settings.execution.shards
    previous = previous_state_date(lake, business_date, allow_gap)
    if count == 1:
        report = age_day(lake, settings, business_date, previous)
    else:
        report = combine_aging(lake, business_date, previous, count)
    return stage_report(lake, business_date, "age_loans", report)


@log_stage
@stops_day
def age_loans_shard(
    business_date: dt.date, settings: Settings, shard: int, allow_gap: bool = False
) -> dict:
    """One shard's part of ``age_loans`` (nothing to do unsharded: ``age_loans`` does it all)."""
    lake, count = lake_of(settings), settings.execution.shards
    if count == 1:
        return {"shard": None}
    previous = previous_state_date(lake, business_date, allow_gap)
    return age_shard(lake, settings, business_date, previous, Shard(shard, count))


@log_stage
@stops_day
def compute_signals(business_date: dt.date, settings: Settings) -> dict:
    """Events + snapshot -> ``borrower_events_daily`` and ``borrower_signals`` (monitoring)."""
    lake = lake_of(settings)
    report = signals_stage.compute_signals(
        lake, settings.contracts_dir, settings.risk.signals, business_date
    )
    return stage_report(lake, business_date, "compute_signals", report)


@log_stage
@stops_day
def score_loans(business_date: dt.date, settings: Settings) -> dict:
    """Aged loans + signals -> ``loan_risk`` (score, PD, ECL), ``risk_actions``,
    ``score_monitoring``."""
    lake, count = lake_of(settings), settings.execution.shards
    if count == 1:
        report = score_day(lake, settings, business_date)
    else:
        report = combine_scores(lake, settings, business_date, count)
    return stage_report(lake, business_date, "score_loans", report)


@log_stage
@stops_day
def score_loans_shard(business_date: dt.date, settings: Settings, shard: int) -> dict:
    """One shard's part of ``score_loans`` (nothing to do unsharded)."""
    lake, count = lake_of(settings), settings.execution.shards
    if count == 1:
        return {"shard": None}
    return score_shard(lake, settings, business_date, Shard(shard, count))


@log_stage
@stops_day
def build_regulatory(business_date: dt.date, settings: Settings) -> dict:
    """Aged and scored loans -> five-category, IFRS 9 ECL and stage-transfer tables and, on the
    reporting day, the credit-bureau report; each with its reconciled extract."""
    from loanrisk.pipeline.regulatory_stage import build_regulatory as regulatory_day

    lake = lake_of(settings)
    report = regulatory_day(lake, settings, settings.risk.regulatory, business_date)
    return stage_report(lake, business_date, "build_regulatory", report)


@log_stage
@stops_day
def build_collections(
    business_date: dt.date, settings: Settings, recompute_later: bool = True
) -> dict:
    """Scored loans + contact log -> collections queue, suppressions, movements and the
    per-channel extracts (DESIGN.md §5 Collections); then, the day's computations done, stored
    later days are recomputed if this day changed them (unless the caller is about to rerun
    them in full, as a backfill does for every day but its last)."""
    from loanrisk.pipeline.collections_stage import build_collections as collections_day

    lake = lake_of(settings)
    report = collections_day(lake, settings, settings.risk.collections, business_date)
    later = recompute_later_days(lake, settings, business_date) if recompute_later else []
    report["recomputed_days"] = later
    return stage_report(lake, business_date, "build_collections", report)


@log_stage
def publish_warehouse(business_date: dt.date, settings: Settings) -> dict:
    """Refresh the BI views of ``warehouse.duckdb`` over every published partition."""
    lake = lake_of(settings)
    path = refresh_warehouse(lake, settings.contracts_dir, settings.classification)
    return stage_report(
        lake, business_date, "publish_warehouse", {"warehouse": lake.relative(path)}
    )


@log_stage
@stops_day
def publish_day(
    business_date: dt.date, settings: Settings, accepted: dict[str, str] | None = None
) -> dict:
    """Write the run manifest (the day is published) and show it in ``pipeline_runs``, then
    the day's marts in ``lake/marts`` (and those of later days ``age_loans`` recomputed)."""
    from loanrisk.pipeline.marts_stage import publish_marts

    lake = lake_of(settings)
    manifest = finalize_run(business_date, settings, accepted)
    refresh_warehouse(lake, settings.contracts_dir, settings.classification)
    for day in [business_date, *recomputed_days(lake, business_date)]:
        publish_marts(lake, settings, day)
    refresh_warehouse(lake, settings.contracts_dir, settings.classification)  # first marts
    return manifest


@log_stage
def build_report(business_date: dt.date, settings: Settings) -> dict:
    """``reports/D/risk_report.html`` from the warehouse views of a published day; the reports
    of later days that ``age_loans`` recomputed for it are rebuilt too."""
    from loanrisk.report import build_risk_report

    lake = lake_of(settings)
    manifest = lake.run_manifest(business_date)
    if not manifest.exists() or read_json(manifest).get("status") != "published":
        raise InputFileError(
            f"{lake.relative(manifest)}: {business_date} is not published; "
            f"run it first (loanrisk run --date {business_date})"
        )
    stability = settings.risk.scorecard.stability
    path = build_risk_report(lake, business_date, stability)
    build_validation_docs(lake, business_date)  # the report links to it
    recomputed = recomputed_days(lake, business_date)
    for day in recomputed:
        if lake.risk_report(day).exists():
            build_risk_report(lake, day, stability)
    rebuilt = [day.isoformat() for day in recomputed]
    return {"path": str(path), "bytes": path.stat().st_size, "rebuilt": rebuilt}


def run_day(
    business_date: dt.date,
    settings: Settings,
    accepted: dict[str, str] | None = None,
    allow_gap: bool = False,
    recompute_later: bool = True,
) -> dict:
    """Every stage of one business day, in order; returns the run manifest."""
    for feed in FEEDS:
        ingest_feed(business_date, settings, feed)
    for feed in FEEDS:
        validate_feed(business_date, settings, feed, accepted)
    shards = range(settings.execution.shards) if settings.execution.shards > 1 else ()
    for shard in shards:  # one after another here; side by side as Airflow's mapped tasks
        age_loans_shard(business_date, settings, shard, allow_gap)
    age_loans(business_date, settings, allow_gap)
    compute_signals(business_date, settings)
    for shard in shards:
        score_loans_shard(business_date, settings, shard)
    score_loans(business_date, settings)
    build_regulatory(business_date, settings)
    build_collections(business_date, settings, recompute_later)
    publish_warehouse(business_date, settings)
    manifest = publish_day(business_date, settings, accepted)
    build_report(business_date, settings)
    return manifest
