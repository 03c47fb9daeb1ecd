"""loan_monthly: month-end work of the loanrisk pipeline, once a month's last daily run is done.

Scheduled by a cron timetable, not by loan_daily's Assets: an asset-scheduled DAG would run
after every day and need a month-end check to skip 29 runs of 30. The run for month M has the
data interval [M-01 00:00, M+1-01 00:00) UTC, so it starts at 00:00 UTC on the 1st of M+1 -
the same time as loan_daily's run for M's last day. Its first task, ``wait_for_month_end``,
therefore waits (reschedule mode) until that day's run manifest is published, then hands the
month-end day to the month-end tasks:

* ``rebuild_regulatory``: the regulatory tables of the month-end day again (five-category,
  IFRS 9 and the PBoC credit-bureau report of the month), so a corrected day or policy is
  reported;
* ``publish_warehouse``: the BI views, incl. the vintage curves and monthly roll rates marts;
* ``score_monitoring_summary``: ``reports/YYYY-MM/monitoring.json``, the month's PSI per day;
* ``refit_scorecard``: a candidate scorecard fitted on the stored history, only with
  ``{"refit": true}`` in the run conf (skipped otherwise; promoting it is a reviewed change).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from loanrisk.airflow.dag_defaults import DAG_SETTINGS, lake_params, late_run_alert
from loanrisk.pipeline.orchestration import airflow_policy, run_pool, run_task

POLICY = airflow_policy()


@dag(
    dag_id="loan_monthly",
    # One run per calendar month M, started on the 1st of M+1; ds = M's first day.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    **DAG_SETTINGS,
    params=lake_params(
        refit=Param(False, type="boolean", description="fit a candidate scorecard"),
    ),
    # The run waits for the month-end day first: its deadline adds that wait.
    deadline=late_run_alert(
        "loan_monthly", POLICY.month_end_timeout_hours + POLICY.run_deadline_hours
    ),
    tags=["loanrisk", "monthly"],
    doc_md=__doc__,
)
def loan_monthly():
    @task.sensor(
        mode="reschedule",
        poke_interval=POLICY.month_end_poke_interval_seconds,
        timeout=dt.timedelta(hours=POLICY.month_end_timeout_hours),
        soft_fail=False,
    )
    def wait_for_month_end(ds=None, params=None):
        from loanrisk.airflow.sensors import poke_month_end

        return poke_month_end(ds, params)

    @task(pool=run_pool("rebuild_regulatory"))
    def rebuild_regulatory(day: str, params=None) -> None:
        run_task("rebuild_regulatory", day, params)

    @task(pool=run_pool("publish_warehouse"))
    def publish_warehouse(day: str, params=None) -> None:
        run_task("publish_warehouse", day, params)

    @task(pool=run_pool("score_monitoring_summary"))
    def score_monitoring_summary(day: str, params=None) -> None:
        run_task("score_monitoring_summary", day, params)

    @task(pool=run_pool("refit_scorecard"))
    def refit_scorecard(day: str, params=None) -> None:
        run_task("refit_scorecard", day, params)

    day = wait_for_month_end()
    rebuild_regulatory(day) >> publish_warehouse(day)
    score_monitoring_summary(day)
    refit_scorecard(day)


DAG = loan_monthly()  # a module global too: the shim of `loanrisk init` imports it
