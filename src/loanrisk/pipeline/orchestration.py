"""What an Airflow task calls: one stage for one business date, returning a path for XCom.

Also the DAGs' operational glue: the Airflow Assets of the published tables, the shard numbers,
the month-end steps and the DAG timings of ``config/pipeline.yaml`` (the sensors' pokes are in
``loanrisk.airflow.sensors``, the failure / deadline alert hook in ``loanrisk.airflow.alerts``).
Import-light: the DAG files import this module when they are parsed (no Polars, no stages).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from loanrisk.config import AirflowPolicy, PipelineConfig, default_config_dir, load_settings
from loanrisk.domain.marts import MATERIALIZED
from loanrisk.domain.yaml_models import load_yaml_model
from loanrisk.errors import LoanriskError, UsageError

if TYPE_CHECKING:
    from loanrisk.config import Settings

log = logging.getLogger(__name__)

#: Scheme of the Assets of the published tables: logical names, independent of data_root (a run
#: can point anywhere with its conf), e.g. ``loanrisk://lake/curated/loan_aging``.
ASSET_SCHEME = "loanrisk"

#: The Assets each loan_daily stage publishes (zone, table). A downstream DAG scheduled on one of
#: them runs once that table's day is written; schedule on ``runs/published`` to see only days
#: whose run manifest is published (every gate passed).
STAGE_ASSETS: dict[str, tuple[tuple[str, str], ...]] = {
    "age_loans": (("lake/curated", "loan_aging"), ("lake/curated", "loan_state")),
    "compute_signals": (
        ("lake/curated", "borrower_events_daily"),
        ("lake/curated", "borrower_devices"),
        ("lake/curated", "borrower_transaction_windows"),
        ("lake/curated", "loan_pre_due_flows"),
        ("lake/curated", "borrower_signals"),
    ),
    "score_loans": (
        ("lake/curated", "loan_risk"),
        ("lake/curated", "risk_actions"),
        ("lake/curated", "score_monitoring"),
    ),
    "build_regulatory": (
        ("lake/curated", "reg_five_category"),
        ("lake/curated", "reg_ifrs9_ecl"),
        ("lake/curated", "reg_ifrs9_stage_transfers"),
        ("lake/curated", "reg_write_offs"),
        ("lake/curated", "reg_credit_report"),
        ("extracts", "regulatory"),
    ),
    "build_collections": (
        ("lake/curated", "collections_queue"),
        ("lake/curated", "collections_suppressed"),
        ("lake/curated", "collections_movements"),
        ("extracts", "collections"),
    ),
    "publish_warehouse": (("warehouse", "warehouse.duckdb"),),
    "finalize_run": (
        ("runs", "published"),
        *(("lake/marts", table) for table in MATERIALIZED),
    ),
    "build_report": (("reports", "risk_report"),),
}


def parse_business_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UsageError(f"bad date {value!r}: expected YYYY-MM-DD") from None


#: Stages whose task output (for XCom) is a curated table's partition of the day.
_CURATED_OUTPUT = {
    "compute_signals": "borrower_signals",
    "score_loans": "loan_risk",
    "build_regulatory": "reg_five_category",
    "build_collections": "collections_queue",
}


#: Shard tasks of the per-loan stages (``loanrisk.lake.shards``): each writes only its own part.
SHARD_STAGES = {"age_loans_shard": "loan_aging", "score_loans_shard": "scored_loans"}


def _call_shard(stage: str, business_date: dt.date, settings, shard: int, params: dict) -> str:
    from loanrisk.pipeline import stages

    if stage == "age_loans_shard":
        stages.age_loans_shard(business_date, settings, shard, bool(params.get("allow_gap")))
    else:
        stages.score_loans_shard(business_date, settings, shard)
    return str(stages.lake_of(settings).partition("shards", SHARD_STAGES[stage], business_date))


def _call(stage: str, business_date: dt.date, settings, feed: str | None, params: dict) -> str:
    from loanrisk.pipeline import stages

    lake = stages.lake_of(settings)
    accepted = dict(params.get("accept_gates") or {})
    if stage == "ingest":
        stages.ingest_feed(business_date, settings, feed)
        return str(lake.partition("staging", feed, business_date))
    if stage == "validate":
        stages.validate_feed(business_date, settings, feed, accepted)
        return str(lake.partition("raw", feed, business_date))
    if stage == "rebuild_regulatory":
        # Month-end rebuild of a published day: a failure must not unpublish that day, so the
        # stage is called without the daily wrapper that records a failed day.
        from loanrisk.pipeline.regulatory_stage import build_regulatory

        build_regulatory(lake, settings, settings.risk.regulatory, business_date)
        return str(lake.partition("curated", "reg_five_category", business_date))
    if stage == "age_loans":
        stages.age_loans(business_date, settings, bool(params.get("allow_gap")))
        return str(lake.partition("curated", "loan_aging", business_date))
    if stage in _CURATED_OUTPUT:
        getattr(stages, stage)(business_date, settings)
        return str(lake.partition("curated", _CURATED_OUTPUT[stage], business_date))
    if stage == "publish_warehouse":
        stages.publish_warehouse(business_date, settings)
        return str(lake.warehouse)
    if stage == "finalize_run":
        stages.publish_day(business_date, settings, accepted)
        return str(lake.run_manifest(business_date))
    if stage == "build_report":
        return stages.build_report(business_date, settings)["path"]
    raise UsageError(f"unknown stage {stage!r}")


#: How long a task waits for the data_root's run lock (another task of the run, e.g. the
#: validate tasks of the three feeds, which Airflow starts together).
TASK_LOCK_WAIT_SECONDS = 3600.0


def _task_lock(settings, business_date: dt.date, stage: str):
    """The run lock around one task. A lock left by a task Airflow killed is taken over: flock
    proves nobody holds it, and the failed try has already raised its alert."""
    from loanrisk.lake.locks import run_lock
    from loanrisk.lake.storage import lake_of

    lake = lake_of(settings)
    return run_lock(
        lake,
        business_date,
        purpose=f"airflow {stage}",
        timeout=TASK_LOCK_WAIT_SECONDS,
        break_stale=True,
    )


def run_stage(
    stage: str, ds: str, params: dict | None, feed: str | None = None, shard: int | None = None
) -> str:
    """Run ``stage`` (for ``feed``, or ``shard``) for business date ``ds``; return its output
    path. Shard tasks take no run lock, so they run side by side; every other task holds it.

    A ``LoanriskError`` (bad file, gate, bad config) will not fix itself on retry, so it fails
    the task at once instead of burning retries.
    """
    params = params or {}
    try:
        settings = load_settings(params.get("config_dir"), params.get("data_root"))
        business_date = parse_business_date(ds)
        if stage in SHARD_STAGES:
            return _call_shard(stage, business_date, settings, int(shard or 0), params)
        with _task_lock(settings, business_date, stage):
            return _call(stage, business_date, settings, feed, params)
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None


# --- DAG settings and Assets (read at parse time: keep these light) ------------------------


def airflow_policy(config_dir: Path | None = None) -> AirflowPolicy:
    """The ``airflow:`` block of ``pipeline.yaml`` (only that file is read: DAG parsing is hot).

    Read when a DAG file is parsed, from ``$LOANRISK_CONFIG`` or the project's ``config/``; a
    run's ``config_dir`` param does not change its sensor timeout or deadline."""
    path = Path(config_dir or default_config_dir()) / "pipeline.yaml"
    return load_yaml_model(path, PipelineConfig).airflow


def asset_uri(zone: str, table: str) -> str:
    return f"{ASSET_SCHEME}://{zone}/{table}"


def outlets(stage: str) -> list:
    """Airflow Assets published by a loan_daily stage (``outlets=`` of its task)."""
    from airflow.sdk import Asset

    return [
        Asset(
            name=f"loanrisk_{table.removesuffix('.duckdb')}",
            uri=asset_uri(zone, table),
            group="loanrisk",
        )
        for zone, table in STAGE_ASSETS[stage]
    ]


def asset(table: str):
    """The Asset of one published table by name, for a downstream DAG's ``schedule=``."""
    for stage in STAGE_ASSETS:
        for found in outlets(stage):
            if found.name == f"loanrisk_{table}":
                return found
    raise UsageError(f"no loan_daily asset for table {table!r}")


def shard_numbers(params: dict | None) -> list[int]:
    """0 .. K-1 for ``shards: K`` of the run's config: what the shard tasks are mapped over."""
    try:
        return list(range(settings_of(params).execution.shards))
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None


def settings_of(params: dict | None) -> Settings:
    """The settings a run's params point at (``config_dir``, ``data_root``), else the defaults."""
    params = params or {}
    return load_settings(params.get("config_dir"), params.get("data_root"))


# --- loan_monthly -----------------------------------------------------------------------------


def run_month_step(step: str, day: str, params: dict | None) -> str:
    """Run a month-end step for the month-end day ``day``; return its output path.

    ``score_monitoring_summary`` writes ``reports/YYYY-MM/monitoring.json``; ``refit`` fits a
    candidate scorecard into ``<data_root>/models`` and is skipped unless ``params["refit"]``."""
    params = params or {}
    if step == "refit" and not params.get("refit"):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException("refit is off (trigger with conf {'refit': true})")
    try:
        from loanrisk.pipeline import monthly

        settings = settings_of(params)
        business_date = parse_business_date(day)
        if step == "score_monitoring_summary":
            return str(monthly.monitoring_summary(settings, business_date))
        if step == "refit":
            return monthly.refit(settings, business_date)["scorecard"]
        raise UsageError(f"unknown month-end step {step!r}")
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None
