"""The daily steps (DESIGN.md §11): read -> pure transform -> write, one function per entry of
the step registry (``loanrisk.pipeline.registry``), with the registry key as its name.

Each takes the business date, the settings and the ``DayRun`` (what the run was asked for),
plus its feed or shard, and is called through ``loanrisk.pipeline.runner.run_step`` by the CLI,
``run_day`` and the Airflow tasks alike. A step records its typed result in
``runs/D/stages/<step>.json`` (``loanrisk.lake.records``) for ``finalize_run``, which turns them
into ``runs/D/manifest.json``: the day is published.
"""

from __future__ import annotations

import datetime as dt
import shutil

from loanrisk.config import Settings
from loanrisk.domain.feeds import LOANS
from loanrisk.errors import GateError, InputFileError, LandingFileError
from loanrisk.lake import records
from loanrisk.lake.records import write_record
from loanrisk.lake.runs import previous_published, write_run_manifest
from loanrisk.lake.shards import Shard, decide_shards, shard_count
from loanrisk.lake.storage import lake_of, read_json, write_partition
from loanrisk.lake.warehouse import refresh_warehouse
from loanrisk.pipeline import aging_stage, risk_stage, signals_stage
from loanrisk.pipeline.collections_stage import collections_day
from loanrisk.pipeline.lineage import build_catalog
from loanrisk.pipeline.marts_stage import publish_marts
from loanrisk.pipeline.registry import DayRun
from loanrisk.pipeline.regulatory_stage import regulatory_day
from loanrisk.pipeline.validation_stage import check_feed
from loanrisk.quality.contracts import Contract, load_contract
from loanrisk.quality.parsing import extra_columns, read_text_and_facts
from loanrisk.report import build_risk_report
from loanrisk.report.validation_docs import build_validation_docs


def contract_of(settings: Settings, feed: str) -> Contract:
    return load_contract(settings.contracts_dir, feed)


def ingest(business_date: dt.date, settings: Settings, run: DayRun, feed: str) -> records.Ingested:
    """Landing file -> ``lake/staging/<feed>/snapshot_date=D``: every field as text.

    File gates (missing, incomplete against its control file, unreadable, empty, column
    missing) stop the day for a required feed, and FILE_INCOMPLETE for any feed; an optional
    feed that is missing or empty (0 bytes, no header) is absent: a warning. With
    ``require_control_file``, the required feed without its control file is missing.
    """
    lake, contract = lake_of(settings), contract_of(settings, feed)
    path = lake.landed_file(contract.landing_file_name(business_date.isoformat()))
    name, pipeline = f"ingest_{feed}", settings.pipeline
    required = pipeline.require_control_file and contract.required_feed
    try:
        text, facts = read_text_and_facts(path, contract, pipeline.input_encoding, required)
    except LandingFileError as exc:
        if exc.gate in ("FILE_MISSING", "FILE_EMPTY") and not contract.required_feed:
            shutil.rmtree(lake.partition("staging", feed, business_date), ignore_errors=True)
            landed = {"bytes": path.stat().st_size} if exc.gate == "FILE_EMPTY" else {}
            missing = records.Ingested(status="missing", input={"file": path.name, **landed})
            return write_record(lake, business_date, name, missing)
        raise GateError(exc.gate, path.name, exc.reason) from None
    # One row group: validation reads the text back as one chunk per column, which it needs,
    # instead of rechunking it (which would take twice the text's memory).
    staging = lake.partition("staging", feed, business_date)
    written = write_partition(text, staging, lake.scratch, one_row_group=True)
    landed = path.stat().st_size
    if feed == LOANS:  # the day's K, once: every later step reads it (loanrisk.lake.shards)
        decide_shards(lake, business_date, settings.execution, landed)
    staged = records.Ingested(
        status="staged",
        input={"file": path.name, "bytes": landed, "sha256": facts.sha256},
        rows_in=text.height,
        extra_columns=extra_columns(path, contract),
        output=lake.relative(written),
    )
    return write_record(lake, business_date, name, staged)


def validate(
    business_date: dt.date, settings: Settings, run: DayRun, feed: str
) -> records.Validated:
    """Staged text -> typed valid rows in ``lake/raw`` + rejected rows in ``lake/quarantine``,
    checked by Great Expectations, warnings counted, batch gates applied."""
    lake = lake_of(settings)
    staged = records.read_record(lake, business_date, f"ingest_{feed}", records.Ingested)
    name = f"validate_{feed}"
    if staged.status == "missing":
        for zone in ("raw", "quarantine"):
            shutil.rmtree(lake.partition(zone, feed, business_date), ignore_errors=True)
        missing = records.Validated(status="missing", warnings={f"FEED_MISSING:{feed}": 1})
        return write_record(lake, business_date, name, missing)
    previous, contract = previous_published(lake, business_date), contract_of(settings, feed)
    staged_report = staged.model_dump(mode="json", exclude_unset=True)
    report = check_feed(
        lake, settings, contract, business_date, staged_report, previous, dict(run.accepted)
    )
    return write_record(lake, business_date, name, records.Validated.model_validate(report))


def age_loans_shard(business_date: dt.date, settings: Settings, run: DayRun, shard: int) -> dict:
    """One shard's part of ``age_loans`` (nothing to do unsharded: ``age_loans`` does it all)."""
    lake = lake_of(settings)
    count = shard_count(lake, business_date, settings.execution)
    if count == 1:
        return {"shard": None}
    previous = aging_stage.previous_state_date(lake, business_date, run.allow_gap)
    return aging_stage.age_shard(lake, settings, business_date, previous, Shard(shard, count))


def age_loans(business_date: dt.date, settings: Settings, run: DayRun) -> records.Aged:
    """Valid snapshot + previous day's state -> ``lake/curated/loan_aging`` and
    ``lake/curated/loan_state`` (DESIGN.md §5); with ``shards: K > 1``, from the K parts
    ``age_loans_shard`` wrote."""
    lake = lake_of(settings)
    count = shard_count(lake, business_date, settings.execution)
    previous = aging_stage.previous_state_date(lake, business_date, run.allow_gap)
    if count == 1:
        report = aging_stage.age_day(lake, settings, business_date, previous)
    else:
        report = aging_stage.combine_aging(lake, business_date, previous, count)
    return write_record(lake, business_date, "age_loans", records.Aged.model_validate(report))


def compute_signals(business_date: dt.date, settings: Settings, run: DayRun) -> records.Signals:
    """Events + snapshot -> ``borrower_events_daily`` and ``borrower_signals`` (monitoring)."""
    lake = lake_of(settings)
    report = signals_stage.signals_day(
        lake, settings.contracts_dir, settings.risk.signals, business_date
    )
    return write_record(
        lake, business_date, "compute_signals", records.Signals.model_validate(report)
    )


def score_loans_shard(business_date: dt.date, settings: Settings, run: DayRun, shard: int) -> dict:
    """One shard's part of ``score_loans`` (nothing to do unsharded)."""
    lake = lake_of(settings)
    count = shard_count(lake, business_date, settings.execution)
    if count == 1:
        return {"shard": None}
    return risk_stage.score_shard(lake, settings, business_date, Shard(shard, count))


def score_loans(business_date: dt.date, settings: Settings, run: DayRun) -> records.Scored:
    """Aged loans + signals -> ``loan_risk`` (score, PD, ECL), ``risk_actions``,
    ``score_monitoring``."""
    lake = lake_of(settings)
    count = shard_count(lake, business_date, settings.execution)
    if count == 1:
        report = risk_stage.score_day(lake, settings, business_date)
    else:
        report = risk_stage.combine_scores(lake, settings, business_date, count)
    return write_record(lake, business_date, "score_loans", records.Scored.model_validate(report))


def build_regulatory(business_date: dt.date, settings: Settings, run: DayRun) -> records.Regulatory:
    """Aged and scored loans -> five-category, IFRS 9 ECL and stage-transfer tables and, on the
    reporting day, the credit-bureau report; each with its reconciled extract."""
    lake = lake_of(settings)
    built = regulatory_day(lake, settings, settings.risk.regulatory, business_date)
    result = records.Regulatory.model_validate({"reports": built})
    return write_record(lake, business_date, "build_regulatory", result)


def build_collections(
    business_date: dt.date, settings: Settings, run: DayRun
) -> records.Collections:
    """Scored loans + contact log -> collections queue, suppressions, movements and the
    per-channel extracts (DESIGN.md §5 Collections)."""
    lake = lake_of(settings)
    report = collections_day(lake, settings, settings.risk.collections, business_date)
    result = records.Collections.model_validate(report)
    return write_record(lake, business_date, "build_collections", result)


def recompute_later_days(business_date: dt.date, settings: Settings, run: DayRun) -> list[str]:
    """The stored days after this one, rebuilt in order while this day's rerun changes them
    (aging and history, then every later step each had run); returns the days rebuilt, which
    ``finalize_run`` and ``build_report`` publish again."""
    return aging_stage.rebuild_later_days(lake_of(settings), settings, business_date, run.reason)


def publish_warehouse(business_date: dt.date, settings: Settings, run: DayRun) -> records.Warehouse:
    """Refresh the BI views of ``warehouse.duckdb`` over every published partition."""
    lake = lake_of(settings)
    path = refresh_warehouse(lake, settings.contracts_dir, settings.classification)
    result = records.Warehouse(warehouse=lake.relative(path))
    return write_record(lake, business_date, "publish_warehouse", result)


def finalize_run(business_date: dt.date, settings: Settings, run: DayRun) -> dict:
    """Write the run manifest (the day is published) and show it in ``pipeline_runs``, then
    the day's marts in ``lake/marts`` (and those of the later days ``recompute_later_days``
    rebuilt)."""
    lake = lake_of(settings)
    manifest = write_run_manifest(business_date, settings, dict(run.accepted), run.reason)
    refresh_warehouse(lake, settings.contracts_dir, settings.classification)
    for day in [business_date, *run.recomputed]:
        publish_marts(lake, settings, day)
    refresh_warehouse(lake, settings.contracts_dir, settings.classification)  # first marts
    return manifest


def build_report(business_date: dt.date, settings: Settings, run: DayRun) -> dict:
    """``reports/D/risk_report.html`` from the warehouse views of a published day; the reports
    of the later days ``recompute_later_days`` rebuilt are rebuilt too."""
    lake = lake_of(settings)
    manifest = lake.run_manifest(business_date)
    if not manifest.exists() or read_json(manifest).get("status") != "published":
        raise InputFileError(
            f"{lake.relative(manifest)}: {business_date} is not published; "
            f"run it first (loanrisk run --date {business_date})"
        )
    stability = settings.risk.scorecard.stability
    path = build_risk_report(lake, business_date, stability, settings.classification)
    build_validation_docs(lake, business_date)  # the report links to it
    catalog = build_catalog(lake, settings.contracts_dir)  # the contracts' tables, as of now
    for day in run.recomputed:
        if lake.risk_report(day).exists():
            build_risk_report(lake, day, stability, settings.classification)
    rebuilt = [day.isoformat() for day in run.recomputed]
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "rebuilt": rebuilt,
        "catalog": str(catalog),
    }
