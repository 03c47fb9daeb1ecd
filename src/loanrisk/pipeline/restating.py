"""A rerun of stored days under Airflow (DESIGN.md §5b), as ``versions.restatement`` makes it
for the CLI in one process: the run's first task that can stop the day opens a shadow of the
data_root when the day is already stored (or later days are), every task of that Airflow run
works in the shadow, and ``finalize_run`` switches it in. A run that fails, or is abandoned,
leaves every day as published; a retry or a cleared task of the same run goes on in its shadow.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from loanrisk.config import Settings
from loanrisk.lake.storage import lake_of
from loanrisk.lake.versions import airflow_shadow, shadow_settings, switch_in
from loanrisk.pipeline.registry import DayRun, step
from loanrisk.pipeline.runner import run_step


def airflow_run_id() -> str | None:
    """The Airflow run this process runs a task of (None outside a task)."""
    try:
        from airflow.sdk import get_current_context

        return str(get_current_context()["run_id"])
    except Exception:  # not in a task: a plain run
        return None


def run_airflow_step(
    name: str, business_date: dt.date, settings: Settings, run: DayRun, **part: str | int
):
    """``run_step`` in the shadow of the task's Airflow run when it reruns stored days; the
    caller holds the run lock for a step that opens one (a ``locked`` step that stops the
    day)."""
    entry = step(name)
    version = run_shadow(settings, business_date, opens=entry.locked and entry.stops_day)
    result = run_step(name, business_date, shadow_settings(settings, version), run, **part)
    if version is not None and name == "finalize_run":
        switch_in(lake_of(settings), version)
    return result


def run_shadow(settings: Settings, business_date: dt.date, opens: bool = False) -> Path | None:
    """The shadow this task's Airflow run works in (``versions.airflow_shadow``; None outside
    a task, or for a run that reruns nothing stored)."""
    owner = airflow_run_id()
    return airflow_shadow(lake_of(settings), business_date, owner, opens) if owner else None
