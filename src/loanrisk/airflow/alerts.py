"""Alerts from the DAGs: a failed task or a missed deadline becomes one logged JSON line in
``<data_root>/runs/<ds>/alerts.jsonl`` (the place to plug a pager: see ``write_alert``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from loanrisk.errors import one_line
from loanrisk.pipeline.orchestration import parse_business_date, settings_of

log = logging.getLogger(__name__)


def write_alert(alert: dict[str, Any], params: dict | None) -> Path | None:
    """Log one alert and append it as a JSON line to ``<data_root>/runs/<ds>/alerts.jsonl``.

    A stand-in for a pager: to page someone, send ``alert`` from here (Slack incoming webhook,
    ``airflow.providers.smtp`` email, PagerDuty Events API). Never raises: an alert hook that
    fails would hide the failure it reports."""
    log.error("loanrisk alert: %s", json.dumps(alert, sort_keys=True, default=str))
    try:
        from loanrisk.lake.modes import append_line
        from loanrisk.lake.storage import lake_of

        settings = settings_of(params)
        lake = lake_of(settings)
        path = lake.alerts_file(parse_business_date(str(alert["ds"])))
        append_line(path, json.dumps(alert, sort_keys=True, default=str))  # owner-only
        return path
    except Exception:
        log.exception("could not write the alert to alerts.jsonl")
        return None


def on_task_failure(context: dict) -> None:
    """``on_failure_callback`` of every loanrisk task: one alert line (dag, task, ds, error)."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    exception = context.get("exception")
    alert = {
        "kind": "task_failed",
        "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "ds": context.get("ds"),
        "exception": None if exception is None else one_line(exception),
    }
    write_alert(alert, context.get("params"))


def on_deadline_missed(context: dict | None = None, **kwargs: Any) -> None:
    """Callback of the DAGs' ``DeadlineAlert``: the run had not finished in time.

    Airflow calls it (in the executor, not in a task) with ``context = {"dag_run": {...},
    "deadline": {...}}``; the run conf's ``data_root`` / ``config_dir`` say where to write."""
    context = context or {}
    run = context.get("dag_run") or {}
    logical = run.get("logical_date") or run.get("run_after") or ""
    alert = {
        "kind": "deadline_missed",
        "dag_id": run.get("dag_id"),
        "task_id": None,
        "run_id": run.get("dag_run_id") or run.get("run_id"),
        "ds": str(logical)[:10],
        "deadline": (context.get("deadline") or {}).get("deadline_time"),
        "exception": None,
        **kwargs,
    }
    write_alert(alert, run.get("conf") or {})
