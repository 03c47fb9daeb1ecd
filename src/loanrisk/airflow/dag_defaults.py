"""What every loanrisk DAG shares: task defaults (retries with back-off, the failure hook) and
the run params that point a run at another lake. Imported by the DAG files: keep it light."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DeadlineAlert, DeadlineReference, Param, SyncCallback

from loanrisk.airflow.alerts import on_deadline_missed, on_task_failure
from loanrisk.config import AirflowPolicy
from loanrisk.pipeline.orchestration import airflow_policy


def default_args(policy: AirflowPolicy) -> dict:
    """Every task's defaults: the retries of the ``airflow:`` block and the failure hook.

    The hook alerts once per task that failed with no retry left (alerts.jsonl and the channels
    of the ``alerts:`` block); no hook on a retry. Airflow's own error mail stays off: it quotes
    the raw exception (a library's message can hold a borrower's ID) and can mail every retry."""
    return {
        "owner": "risk-data-engineering",
        "retries": policy.retries,
        "retry_delay": dt.timedelta(minutes=policy.retry_delay_minutes),
        "retry_exponential_backoff": policy.retry_exponential_backoff,
        "max_retry_delay": dt.timedelta(minutes=policy.max_retry_delay_minutes),
        "on_failure_callback": on_task_failure,
        "email_on_failure": False,
        "email_on_retry": False,
    }


def dag_settings(policy: AirflowPolicy) -> dict:
    """Schedule settings both DAGs share: UTC intervals from 2026, no catch-up (backfills are
    explicit), one run at a time (history and day-over-day gates chain the runs), and the task
    defaults of ``policy``."""
    return {
        "start_date": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(policy),
    }


#: ``dag_settings`` of the configured policy, read when a DAG file imports this module (at DAG
#: parse time, like the DAG files' own ``airflow_policy()``).
DAG_SETTINGS = dag_settings(airflow_policy())


def late_run_alert(dag_id: str, hours: float) -> DeadlineAlert:
    """Airflow 3 deadline alert: a run unfinished ``hours`` after it was queued is reported
    through ``loanrisk.airflow.alerts`` (alerts.jsonl and the ``alerts:`` channels; SLAs are
    gone in Airflow 3)."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(hours=hours),
        callback=SyncCallback(on_deadline_missed),
        name=f"{dag_id}_late",
    )


def lake_params(**more: Param) -> dict[str, Param]:
    """``data_root`` and ``config_dir`` (run conf overrides of the configured ones) + ``more``."""
    return {
        "data_root": Param(None, type=["null", "string"], description="overrides config"),
        "config_dir": Param(None, type=["null", "string"], description="folder of YAMLs"),
        **more,
    }
