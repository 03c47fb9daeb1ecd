"""loan_daily under a real Airflow: PostgreSQL metadata database, api-server, scheduler and
dag-processor with LocalExecutor (``loanrisk.airflow.deploy``), days run by ``airflow backfill
create``, each task its own process. What it publishes is what ``loanrisk backfill`` publishes,
also when a task's process is killed mid-step and Airflow retries it; the tasks that take the
run lock queue in the ``loanrisk_run`` pool instead of waiting inside a worker slot.

The two deployment tests (``-m scheduler``) need PostgreSQL's server binaries
(``/usr/lib/postgresql/15/bin``, Debian's ``postgresql-15``: ``.ci/run`` installs it)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import SHIPPED, outputs

FIRST, DAYS, LOANS, SEED = dt.date(2026, 5, 1), 3, 400, 23
#: The kill test's day: after the backfilled ones (one Airflow, one run per DAG and date).
KILL_DAY = FIRST + dt.timedelta(days=DAYS)
#: The DAGs' retries in the tests' policy: a killed task is retried after 3 s, not 5 min.
RETRIES = {
    "retries": 2,
    "retry_delay_minutes": 0.05,
    "retry_exponential_backoff": False,
    "max_retry_delay_minutes": 0.05,
}
RUN_SECONDS = 900.0
KILLED_TASK = "score_loans"


#: The deployment tests (``-m scheduler``). They share the module's deployment when they run in
#: one process; under pytest-xdist each worker that gets one starts its own (the kill test's
#: day follows the backfilled ones, so they never share a DAG run either way).
scheduler = pytest.mark.scheduler


def _project(folder, config_dir, shards: int):
    """``folder/config`` (+ its data_contracts): a copy of the shipped policy with the tests'
    retries and ``shards``; execution.yaml is outside the config hash, so the manifests of
    either shard count carry the same one."""
    shutil.copytree(config_dir, folder / "config")
    shutil.copytree(config_dir.parent / "data_contracts", folder / "data_contracts")
    pipeline = folder / "config" / "pipeline.yaml"
    document = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    document["airflow"].update(RETRIES)
    pipeline.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    execution = folder / "config" / "execution.yaml"
    document = yaml.safe_load(execution.read_text(encoding="utf-8"))
    execution.write_text(yaml.safe_dump({**document, "shards": shards}), encoding="utf-8")
    return folder / "config"


@pytest.fixture(scope="module")
def projects(tmp_path_factory, config_dir):
    """Two project folders: ``airflow`` (shards: 2) and ``cli`` (unsharded)."""
    folder = tmp_path_factory.mktemp("scheduler-projects")
    return {
        name: _project(folder / name, config_dir, shards)
        for name, shards in (("airflow", 2), ("cli", 1))
    }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, projects):
    """One started deployment (PostgreSQL + Airflow) for the module; its DAGs read the
    ``airflow`` policy."""
    from loanrisk.airflow import deploy

    if not (deploy.PG_BIN / "postgres").is_file():
        missing = f"no PostgreSQL server binaries in {deploy.PG_BIN} (Debian: postgresql-15)"
        if os.environ.get("LOANRISK_REQUIRE_POSTGRES"):  # CI: .ci/run installs them
            pytest.fail(missing)
        pytest.skip(missing)
    home = tmp_path_factory.mktemp("airflow-home")
    started = deploy.start(home, SHIPPED / "dags", projects["airflow"])
    yield started
    started.stop()


def _landing(tmp_path, config, first: dt.date, days: int):
    from loanrisk.synth import generate

    generate(first, days, LOANS, SEED, tmp_path / "landing", config)
    return tmp_path / "landing"


def _backfilled_by_cli(tmp_path, config, first: dt.date, days: int):
    from loanrisk.cli import main

    root = tmp_path / "cli-data"
    shutil.copytree(tmp_path / "landing", root / "landing")
    last = first + dt.timedelta(days=days - 1)
    span = ["--start", str(first), "--end", str(last), "--data-root", str(root)]
    assert main(["backfill", *span, "--config", str(config)]) == 0
    return root


def _published(root) -> dict[str, str]:
    """Every published file's sha256: lake Parquet, run records, extracts and risk reports."""
    from loanrisk.lake.storage import sha256_file

    reports = sorted((root / "reports").glob("*/risk_report.html"))
    return outputs(root) | {p.relative_to(root).as_posix(): sha256_file(p) for p in reports}


def _run_by_airflow(deployment, tmp_path, config, first: dt.date, days: int, during=None):
    """``days`` days from ``first`` through ``airflow backfill create`` on a new data_root;
    with ``during``, a callable polled until it returns True while the runs go."""
    from loanrisk.airflow import deploy

    root = tmp_path / "airflow-data"
    shutil.copytree(tmp_path / "landing", root / "landing")
    span = (str(first), str(first + dt.timedelta(days=days - 1)))
    conf = {"data_root": str(root), "config_dir": str(config)}
    started = time.monotonic()
    deploy.backfill(deployment, "loan_daily", *span, conf)
    deadline = started + RUN_SECONDS
    while during is not None and not during(root) and time.monotonic() < deadline:
        deployment.check_running()
        time.sleep(0.02)
    states = deploy.wait_for_runs(deployment, "loan_daily", *span, RUN_SECONDS)
    print(f"{days} day(s) through Airflow in {time.monotonic() - started:.0f}s")
    return root, states


COLUMNS = {"task_id": "task", "map_index": "map", "pool": "pool", "state": "state"}
COLUMNS |= {"try_number": "try", "start_date": "start", "end_date": "end"}


def _print_timeline(rows) -> None:
    """Each task's start and duration from the first task's start (shown with ``-s``)."""
    origin = min(r["start"] for r in rows)
    for r in sorted(rows, key=lambda r: r["start"]):
        took = (r["end"] - r["start"]).total_seconds()
        print(f"{(r['start'] - origin).total_seconds():7.1f}s {took:5.1f}s {r['task']}[{r['map']}]")


def _task_rows(deployment, first: dt.date, last: dt.date, task_id: str = "%") -> list[dict]:
    """loan_daily's task instances of the runs of ``first`` .. ``last`` (``task_id``: a LIKE
    pattern) as dicts of ``COLUMNS``."""
    sql = f"SELECT {', '.join('ti.' + c for c in COLUMNS)} FROM task_instance ti "
    sql += "JOIN dag_run r ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id "
    sql += "WHERE ti.dag_id = 'loan_daily' AND ti.task_id LIKE %s "
    sql += "AND (r.logical_date AT TIME ZONE 'UTC')::date BETWEEN %s AND %s"
    rows = deployment.query(sql, task_id, first, last)
    return [dict(zip(COLUMNS.values(), row, strict=True)) for row in rows]


@scheduler
def test_backfill_under_the_scheduler_publishes_the_bytes_of_the_cli(
    tmp_path, projects, deployment
):
    """Three days, shards: 2, every task its own process: the same published files as
    ``loanrisk backfill`` (unsharded) of the same days; the locked tasks took turns in the pool."""
    from loanrisk.pipeline.orchestration import RUN_POOL, run_pool
    from loanrisk.pipeline.registry import STEPS

    _landing(tmp_path, projects["cli"], FIRST, DAYS)
    root, states = _run_by_airflow(deployment, tmp_path, projects["airflow"], FIRST, DAYS)
    assert set(states.values()) == {"success"}, states
    assert len(states) == DAYS
    reference = _published(_backfilled_by_cli(tmp_path, projects["cli"], FIRST, DAYS))
    assert len([p for p in reference if p.endswith("manifest.json")]) >= DAYS
    assert _published(root) == reference
    assert not list((root / "runs").glob("*/alerts.jsonl"))
    rows = _task_rows(deployment, FIRST, FIRST + dt.timedelta(days=DAYS - 1))
    _print_timeline(rows)
    for row in rows:
        expected = run_pool(row["task"]) if row["task"] in STEPS else None  # glue: no lock
        assert row["pool"] == (expected or "default_pool"), row
    locked = sorted((r["start"], r["end"]) for r in rows if r["pool"] == RUN_POOL)
    assert len(locked) > 10 * DAYS
    for (_, end), (start, _) in itertools.pairwise(locked):
        assert end <= start  # one slot: no two locked tasks ran at the same time


def _killer(task: str):
    """A ``during`` callable: SIGKILL the process holding the run lock for ``task`` (read from
    the lock file, so it dies inside the step), once; True when done."""
    from loanrisk.lake.locks import lock_path, read_holder
    from loanrisk.lake.storage import Lake

    def kill(root) -> bool:
        holder = read_holder(lock_path(Lake(root, root / "landing")))
        if holder is None or holder.purpose != f"airflow {task}":
            return False
        os.kill(holder.pid, signal.SIGKILL)
        print(f"killed pid {holder.pid} ({holder.purpose} {holder.business_date})")
        return True

    return kill


@scheduler
def test_a_killed_task_is_retried_and_the_day_publishes_the_same_bytes(
    tmp_path, projects, deployment
):
    """``score_loans``'s process SIGKILLed inside its step: the try fails, Airflow retries it,
    the retry takes over the dead task's run lock, and the day publishes the CLI's bytes."""
    _landing(tmp_path, projects["cli"], KILL_DAY, 1)
    killer = _killer(KILLED_TASK)
    root, states = _run_by_airflow(
        deployment, tmp_path, projects["airflow"], KILL_DAY, 1, during=killer
    )
    assert states == {str(KILL_DAY): "success"}
    [row] = _task_rows(deployment, KILL_DAY, KILL_DAY, KILLED_TASK)
    assert (row["state"], row["try"]) == ("success", 2), row
    history = deployment.query(
        "SELECT h.state, h.try_number FROM task_instance_history h JOIN dag_run r "
        "ON r.dag_id = h.dag_id AND r.run_id = h.run_id WHERE h.task_id = %s "
        "AND (r.logical_date AT TIME ZONE 'UTC')::date = %s",
        *(KILLED_TASK, KILL_DAY),
    )
    assert history == [("failed", 1)]
    reference = _backfilled_by_cli(tmp_path, projects["cli"], KILL_DAY, 1)
    assert _published(root) == _published(reference)


def test_locked_steps_queue_in_the_run_pool_and_shard_steps_do_not():
    from airflow.dag_processing.dagbag import DagBag

    from loanrisk.pipeline.orchestration import RUN_POOL, run_pool
    from loanrisk.pipeline.registry import STEPS

    assert run_pool("age_loans") == RUN_POOL and run_pool("score_loans_shard") is None
    bag = DagBag(dag_folder=SHIPPED / "dags")
    for dag in bag.dags.values():
        for task in dag.tasks:
            if task.task_id in STEPS:
                locked = STEPS[task.task_id].locked
                expected = RUN_POOL if locked else "default_pool"
            else:  # glue: sensors and the shard numbers take no lock
                expected = "default_pool"
            # a mapped task keeps pool=None until it is expanded into the default pool
            assert (task.pool or "default_pool") == expected, task.task_id


_HOLD = """
import sys, time
from pathlib import Path
from loanrisk.lake.locks import run_lock
from loanrisk.lake.storage import Lake
root = Path(sys.argv[1])
with run_lock(Lake(root, root / "landing"), "2026-05-01", purpose="cli run"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_run_lock_held_elsewhere_fails_the_try_for_a_retry_not_for_good(
    tmp_path, config_dir, monkeypatch
):
    """The pool serializes the locked tasks; the flock is the safety net for a holder outside
    Airflow (a CLI run): the task waits a short while, then fails this try with RUN_LOCKED,
    which Airflow retries (not ``AirflowFailException``, which it would not)."""
    from loanrisk.errors import RunLockedError
    from loanrisk.pipeline import orchestration

    root = tmp_path / "data"
    (root / "landing").mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert orchestration.TASK_LOCK_WAIT_SECONDS <= 60  # a short wait: the pool queues
        monkeypatch.setattr(orchestration, "TASK_LOCK_WAIT_SECONDS", 0.3)
        params = {"data_root": str(root), "config_dir": str(config_dir)}
        with pytest.raises(RunLockedError, match="cli run"):
            orchestration.run_task("publish_warehouse", str(FIRST), params)
    finally:
        holder.kill()
        holder.wait()
