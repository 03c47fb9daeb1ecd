"""What an Airflow task calls: one stage for one business date, returning a path for XCom."""

from __future__ import annotations

import datetime as dt

from loanrisk import stages
from loanrisk.config import load_settings
from loanrisk.errors import LoanriskError, UsageError

STAGE_FUNCTIONS = {
    "ingest_loans": stages.ingest_loans,
    "age_loans": stages.age_loans,
    "publish_warehouse": stages.publish_warehouse,
    "finalize_run": stages.finalize_run,
}
STAGE_OUTPUTS = {
    "ingest_loans": lambda lake, day: lake.partition("raw", "loan_snapshot", day),
    "age_loans": lambda lake, day: lake.partition("curated", "loan_aging", day),
    "publish_warehouse": lambda lake, day: lake.warehouse,
    "finalize_run": lambda lake, day: lake.run_manifest(day),
}


def parse_business_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UsageError(f"bad date {value!r}: expected YYYY-MM-DD") from None


def run_stage(stage: str, ds: str, params: dict | None) -> str:
    """Run ``stage`` for business date ``ds``; return its output path.

    A ``LoanriskError`` (bad file, broken contract, bad config) will not fix itself on retry,
    so it fails the task at once instead of burning retries.
    """
    params = params or {}
    try:
        settings = load_settings(params.get("config_dir"), params.get("data_root"))
        business_date = parse_business_date(ds)
        STAGE_FUNCTIONS[stage](business_date, settings)
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None
    return str(STAGE_OUTPUTS[stage](stages.lake_of(settings), business_date))
