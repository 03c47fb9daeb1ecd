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
from collections.abc import Callable

from loanrisk.config import Settings
from loanrisk.errors import InputFileError
from loanrisk.lake import records
from loanrisk.lake.records import write_record
from loanrisk.lake.runs import write_run_manifest
from loanrisk.lake.shards import Shard, drop_day_parts, shard_count
from loanrisk.lake.storage import Lake, lake_of, read_json
from loanrisk.lake.warehouse import refresh_warehouse
from loanrisk.pipeline import (
    aging_stage,
    collections_stage,
    ingest_stage,
    risk_stage,
    signals_stage,
    validation_stage,
)
from loanrisk.pipeline.lineage import build_catalog
from loanrisk.pipeline.marts_stage import publish_marts
from loanrisk.pipeline.registry import DayRun
from loanrisk.pipeline.regulatory_stage import regulatory_day
from loanrisk.report import build_risk_report
from loanrisk.report.validation_docs import build_validation_docs


def ingest(business_date: dt.date, settings: Settings, run: DayRun, feed: str) -> records.Ingested:
    """Landing file -> ``lake/staging/<feed>/snapshot_date=D``: every field as text; file gates
    (``loanrisk.pipeline.ingest_stage``)."""
    return ingest_stage.ingest_feed(business_date, settings, feed)


def _on_shard(
    settings: Settings, business_date: dt.date, shard: int, work: Callable[[Lake, Shard], dict]
) -> dict:
    """``work(lake, Shard(shard, K))`` for the day's K (``shard_count``: recorded at ingest);
    ``{"shard": None}`` for a day of one shard, whose combine step does it all."""
    lake = lake_of(settings)
    count = shard_count(lake, business_date, settings.execution)
    if count == 1:
        return {"shard": None}
    return work(lake, Shard(shard, count))


def validate_shard(
    business_date: dt.date, settings: Settings, run: DayRun, feed: str, shard: int
) -> dict:
    """One shard's part of ``validate``: its staged rows typed and checked, GX included, into
    raw and quarantine parts and a partial report (nothing to do unsharded)."""

    def work(lake: Lake, part: Shard) -> dict:
        return validation_stage.validate_feed_shard(lake, settings, business_date, feed, part)

    return _on_shard(settings, business_date, shard, work)


def validate(
    business_date: dt.date, settings: Settings, run: DayRun, feed: str
) -> records.Validated:
    """Staged text -> typed valid rows in ``lake/raw`` + rejected rows in ``lake/quarantine``,
    checked by Great Expectations, warnings counted, batch gates applied
    (``loanrisk.pipeline.validation_stage``)."""
    return validation_stage.validate_feed(business_date, settings, feed, dict(run.accepted))


def age_loans_shard(business_date: dt.date, settings: Settings, run: DayRun, shard: int) -> dict:
    """One shard's part of ``age_loans`` (nothing to do unsharded: ``age_loans`` does it all)."""

    def work(lake: Lake, part: Shard) -> dict:
        previous = aging_stage.previous_state_date(lake, business_date, run.allow_gap)
        return aging_stage.age_shard(lake, settings, business_date, previous, part)

    return _on_shard(settings, business_date, shard, work)


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


def compute_signals_shard(
    business_date: dt.date, settings: Settings, run: DayRun, shard: int
) -> dict:
    """One shard's part of ``compute_signals`` (nothing to do unsharded)."""
    policy, contracts = settings.risk.signals, settings.contracts_dir

    def work(lake: Lake, part: Shard) -> dict:
        return signals_stage.signals_shard(lake, contracts, policy, business_date, part)

    return _on_shard(settings, business_date, shard, work)


def compute_signals(business_date: dt.date, settings: Settings, run: DayRun) -> records.Signals:
    """Events + snapshot -> ``borrower_events_daily`` and ``borrower_signals`` (monitoring)."""
    lake = lake_of(settings)
    count = shard_count(lake, business_date, settings.execution)
    policy, contracts = settings.risk.signals, settings.contracts_dir
    if count == 1:
        report = signals_stage.signals_day(lake, contracts, policy, business_date)
    else:
        report = signals_stage.combine_signals(lake, contracts, policy, business_date, count)
    return write_record(
        lake, business_date, "compute_signals", records.Signals.model_validate(report)
    )


def score_loans_shard(business_date: dt.date, settings: Settings, run: DayRun, shard: int) -> dict:
    """One shard's part of ``score_loans`` (nothing to do unsharded)."""

    def work(lake: Lake, part: Shard) -> dict:
        return risk_stage.score_shard(lake, settings, business_date, part)

    return _on_shard(settings, business_date, shard, work)


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


def build_collections_shard(
    business_date: dt.date, settings: Settings, run: DayRun, shard: int
) -> dict:
    """One shard's per-borrower part of ``build_collections`` (nothing to do unsharded)."""
    policy = settings.risk.collections

    def work(lake: Lake, part: Shard) -> dict:
        return collections_stage.collections_shard(lake, settings, policy, business_date, part)

    return _on_shard(settings, business_date, shard, work)


def build_collections(
    business_date: dt.date, settings: Settings, run: DayRun
) -> records.Collections:
    """Scored loans + contact log -> collections queue, suppressions, movements and the
    per-channel extracts (DESIGN.md §5 Collections)."""
    lake, policy = lake_of(settings), settings.risk.collections
    count = shard_count(lake, business_date, settings.execution)
    if count == 1:
        report = collections_stage.collections_day(lake, settings, policy, business_date)
    else:
        report = collections_stage.combine_collections(lake, settings, policy, business_date, count)
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
    drop_day_parts(lake, business_date)  # the parts kept for the day's shard tasks
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
