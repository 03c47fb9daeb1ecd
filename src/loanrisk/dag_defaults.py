"""What every loanrisk DAG shares: task defaults (retries with back-off, the failure hook) and
the run params that point a run at another lake. Imported by the DAG files: keep it light."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param

from loanrisk.alerts import on_task_failure

DEFAULT_ARGS = {
    "owner": "risk-data-engineering",
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=30),
    "on_failure_callback": on_task_failure,
}


def lake_params(**more: Param) -> dict[str, Param]:
    """``data_root`` and ``config_dir`` (run conf overrides of the configured ones) + ``more``."""
    return {
        "data_root": Param(None, type=["null", "string"], description="overrides config"),
        "config_dir": Param(None, type=["null", "string"], description="folder of YAMLs"),
        **more,
    }
