"""What an Airflow task calls: ``run_task``, one step of the registry for one business date.

Also the DAGs' operational glue: the Airflow Assets of the published tables (from the
registry), the shard numbers and the DAG timings of ``config/pipeline.yaml`` (the sensors' pokes
are in
``loanrisk.airflow.sensors``, the failure / deadline alert hook in ``loanrisk.airflow.alerts``).
Import-light: the DAG files import this module when they are parsed (no Polars, no stages).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from loanrisk.config import AirflowPolicy, PipelineConfig, default_config_dir, load_settings
from loanrisk.domain.yaml_models import load_yaml_model
from loanrisk.errors import LoanriskError, RunLockedError, UsageError
from loanrisk.pipeline.registry import DAILY, DayRun, step

if TYPE_CHECKING:
    from loanrisk.config import Settings

log = logging.getLogger(__name__)

#: Scheme of the Assets of the published tables: logical names, independent of data_root (a run
#: can point anywhere with its conf), e.g. ``loanrisk://lake/curated/loan_aging``.
ASSET_SCHEME = "loanrisk"


def parse_business_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise UsageError(f"bad date {value!r}: expected YYYY-MM-DD") from None


#: The Airflow pool of the tasks that take the data_root's run lock (``Step.locked``): one slot,
#: so such a task waits in the scheduler's queue for its turn, not in a worker slot. Created by
#: ``loanrisk.airflow.deploy`` (``airflow pools set loanrisk_run 1 ...``); a task in a pool
#: that does not exist is never scheduled, so a deployment must create it (README).
RUN_POOL = "loanrisk_run"

#: How long a task waits for the run lock anyway: a safety net for what the pool does not
#: see (a ``loanrisk`` CLI run on the same data_root, a second Airflow, a task run by hand).
TASK_LOCK_WAIT_SECONDS = 30.0


def run_pool(name: str) -> str | None:
    """The pool of step ``name``'s task: ``RUN_POOL`` when it holds the run lock, else None
    (Airflow's default pool: the shard steps run side by side)."""
    return RUN_POOL if step(name).locked else None


def _task_lock(settings, business_date: dt.date, name: str):
    """The run lock around one task, waited for ``TASK_LOCK_WAIT_SECONDS`` at most (the pool
    has already queued the task). A lock left by a task whose process was killed is taken
    over: flock proves nobody holds it, and Airflow has recorded the failed try."""
    from loanrisk.lake.locks import run_lock
    from loanrisk.lake.storage import lake_of

    return run_lock(
        lake_of(settings),
        business_date,
        purpose=f"airflow {name}",
        timeout=TASK_LOCK_WAIT_SECONDS,
        break_stale=True,
    )


def day_run(params: dict, recomputed: list[str] | None = None) -> DayRun:
    """The ``DayRun`` of an Airflow run: its conf's accepted gates and gap, and the days the
    run's ``recompute_later_days`` task rebuilt (its XCom)."""
    return DayRun(
        accepted=dict(params.get("accept_gates") or {}),
        allow_gap=bool(params.get("allow_gap")),
        recomputed=tuple(parse_business_date(day) for day in recomputed or ()),
    )


def run_task(
    name: str,
    ds: str,
    params: dict | None,
    recomputed: list[str] | None = None,
    **part: str | int,
):
    """What an Airflow task calls: the registry's step ``name`` for business date ``ds`` (and
    ``part``: its ``feed`` or ``shard``), through ``run_step``, in the Airflow run's shadow when it
    reruns stored days (``loanrisk.pipeline.restating``). Shard steps take no run lock,
    so they run side by side; every other step holds it. Returns what the step returns when
    another task reads it (``recompute_later_days``: the days rebuilt), else nothing.

    A ``LoanriskError`` (bad file, gate, bad config) will not fix itself on retry, so it fails
    the task at once instead of burning retries, except ``RunLockedError``: the lock's holder
    outside the pool (a CLI run) will finish, so that try fails for a retry. A step whose
    ``when`` param is off is skipped.
    """
    params = params or {}
    entry = step(name)
    if entry.when and not params.get(entry.when):
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"{name} is off (trigger with conf {{{entry.when!r}: true}})")
    try:
        from loanrisk.lake.storage import enter_data_root
        from loanrisk.lake.working_copy import task_copy
        from loanrisk.pipeline.restating import run_airflow_step

        # an s3:// data_root: the task runs on a working copy (locked, pulled, pushed); a
        # shard task's takes no store lock and pushes only its shard's files
        unlocked = not entry.locked and entry.per_shard
        shard = int(part["shard"]) if unlocked else None
        copy = task_copy(params, ds, f"airflow {name}", TASK_LOCK_WAIT_SECONDS, shard=shard)
        with copy as params:
            settings = settings_of(params)
            enter_data_root(settings)  # owner-only files; no landing folder: stop first
            business_date = parse_business_date(ds)
            run = day_run(params, recomputed)
            if not entry.locked:
                run_airflow_step(name, business_date, settings, run, **part)
                return None
            with _task_lock(settings, business_date, name):
                result = run_airflow_step(name, business_date, settings, run, **part)
            return result if name == "recompute_later_days" else None
    except RunLockedError:
        raise
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


def outlets(name: str) -> list:
    """Airflow Assets published by a loan_daily step (``outlets=`` of its task)."""
    from airflow.sdk import Asset

    return [
        Asset(
            name=f"loanrisk_{table.removesuffix('.duckdb')}",
            uri=asset_uri(zone, table),
            group="loanrisk",
        )
        for zone, table in step(name).assets
    ]


def asset(table: str):
    """The Asset of one published table by name, for a downstream DAG's ``schedule=``."""
    for entry in DAILY:
        for found in outlets(entry.name):
            if found.name == f"loanrisk_{table}":
                return found
    raise UsageError(f"no loan_daily asset for table {table!r}")


def shard_numbers(ds: str, params: dict | None) -> list[int]:
    """0 .. K-1 for the day's K, as its ingest recorded it (in the Airflow run's shadow when it
    reruns stored days): what the shard tasks are mapped over."""
    try:
        from loanrisk.lake.shards import shard_count
        from loanrisk.lake.storage import lake_of
        from loanrisk.lake.versions import shadow_settings
        from loanrisk.lake.working_copy import task_copy
        from loanrisk.pipeline.restating import run_shadow

        copy = task_copy(params or {}, ds, "airflow shards", 0.0, read_only=True)
        with copy as params:
            settings, business_date = settings_of(params), parse_business_date(ds)
            lake = lake_of(shadow_settings(settings, run_shadow(settings, business_date)))
            return list(range(shard_count(lake, business_date, settings.execution)))
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None


def settings_of(params: dict | None) -> Settings:
    """The settings a run's params point at (``config_dir``, ``data_root``), else the defaults."""
    params = params or {}
    return load_settings(params.get("config_dir"), params.get("data_root"))
