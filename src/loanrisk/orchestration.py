"""What an Airflow task calls: one stage for one business date, returning a path for XCom."""

from __future__ import annotations

import datetime as dt

from loanrisk.config import load_settings
from loanrisk.errors import LoanriskError, UsageError


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


def _call(stage: str, business_date: dt.date, settings, feed: str | None, params: dict) -> str:
    from loanrisk import stages

    lake = stages.lake_of(settings)
    accepted = dict(params.get("accept_gates") or {})
    if stage == "ingest":
        stages.ingest_feed(business_date, settings, feed)
        return str(lake.partition("staging", feed, business_date))
    if stage == "validate":
        stages.validate_feed(business_date, settings, feed, accepted)
        return str(lake.partition("raw", feed, business_date))
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


def run_stage(stage: str, ds: str, params: dict | None, feed: str | None = None) -> str:
    """Run ``stage`` (for ``feed``) for business date ``ds``; return its output path.

    A ``LoanriskError`` (bad file, gate, bad config) will not fix itself on retry, so it fails
    the task at once instead of burning retries.
    """
    params = params or {}
    try:
        settings = load_settings(params.get("config_dir"), params.get("data_root"))
        return _call(stage, parse_business_date(ds), settings, feed, params)
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None
