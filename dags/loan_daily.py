"""loan_daily: one business day of the loanrisk pipeline.

Runs once a day for the business date ``ds``: the data interval [D 00:00, D+1 00:00) UTC, so
the run for D starts at 00:00 UTC on D+1 (08:00 Asia/Shanghai), after the lending core's
end-of-day extract of D has landed.
Every task is one ``loanrisk`` stage, the same function ``loanrisk run`` calls; only the
business date and output paths travel through XCom. Set ``data_root`` / ``config_dir`` in the
run conf to point a run elsewhere than the configured defaults.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from loanrisk.feeds import FEEDS

DEFAULT_ARGS = {
    "owner": "risk-data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
}


@dag(
    dag_id="loan_daily",
    # One run per UTC day D, started once D has ended; ds = D is the business date.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={
        "data_root": Param(None, type=["null", "string"], description="overrides config"),
        "config_dir": Param(None, type=["null", "string"], description="folder of YAMLs"),
        "accept_gates": Param(
            {}, type="object", description='gates to accept: {"GATE_NAME": "reason"}'
        ),
        "allow_gap": Param(
            False, type="boolean", description="continue history across unprocessed days"
        ),
    },
    tags=["loanrisk", "daily"],
    doc_md=__doc__,
)
def loan_daily():
    @task
    def ingest(feed: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("ingest", ds, params, feed)

    @task
    def validate(feed: str, staged: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("validate", ds, params, feed)

    @task
    def age_loans(validated: list[str], ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("age_loans", ds, params)

    @task
    def compute_signals(validated: list[str], ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("compute_signals", ds, params)

    @task
    def score_loans(aged: str, signals: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("score_loans", ds, params)

    @task
    def build_collections(scored: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("build_collections", ds, params)

    @task
    def build_regulatory(scored: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("build_regulatory", ds, params)

    @task
    def publish_warehouse(built: list[str], ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("publish_warehouse", ds, params)

    @task
    def finalize_run(published: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("finalize_run", ds, params)

    @task
    def build_report(published: str, ds=None, params=None) -> str:
        from loanrisk.orchestration import run_stage

        return run_stage("build_report", ds, params)

    validated = [
        validate.override(task_id=f"validate_{feed}")(
            feed, ingest.override(task_id=f"ingest_{feed}")(feed)
        )
        for feed in FEEDS
    ]
    scored = score_loans(age_loans(validated), compute_signals(validated))
    extracts = [build_regulatory(scored), build_collections(scored)]
    build_report(finalize_run(publish_warehouse(extracts)))


loan_daily()
