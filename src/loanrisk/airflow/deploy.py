"""A real Airflow deployment on this machine: the DAGs under Airflow's own scheduler, as an
Airflow shop runs them, for ``make airflow`` and the scheduler tests.

    python -m loanrisk.airflow.deploy serve HOME [--dags DIR] [--config DIR]

``start`` brings up, in order:

* PostgreSQL (``loanrisk.airflow.postgres``: a throwaway cluster, non-root, free port);
* ``airflow db migrate`` on it, then the run lock's pool (``RUN_POOL``, one slot), which every
  task that takes the data_root's run lock queues in (``orchestration.run_pool``);
* ``airflow api-server``, ``scheduler`` and ``dag-processor``, LocalExecutor, each its own
  process group, logs in ``HOME/logs/<component>.log``.

Airflow's settings are environment variables (``Deployment.env``; ``HOME/airflow.env`` holds
them for a shell that runs ``airflow`` commands against the deployment): the metadata database
through psycopg 3 for both the sync and the async engine, the api-server's execution API URL
and one JWT secret shared by every component (tasks reach the api-server with tokens the
scheduler signs), the DAGs folder and ``$LOANRISK_CONFIG`` for the DAGs' parse-time policy.

The scheduler does not create scheduled runs (``[scheduler] use_job_schedule = False``): a DAG
must be unpaused for its backfill runs to start, and unpausing would otherwise start a run of
the latest interval, which waits on the default data_root's landing folder. Only explicit runs
(``airflow backfill create``, ``airflow dags trigger``) run here.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from loanrisk.airflow.postgres import PG_BIN, Postgres, free_port, start_postgres
from loanrisk.config import shipped_dags
from loanrisk.errors import DeploymentError
from loanrisk.pipeline.orchestration import RUN_POOL

__all__ = ["PG_BIN", "Deployment", "backfill", "start", "wait_for_runs"]

COMPONENTS = ("api-server", "scheduler", "dag-processor")
#: Task processes at once (LocalExecutor workers): sized for a two-core machine.
PARALLELISM = 4
#: How long a component may take to come up, and the DAG files to be parsed.
START_SECONDS = 180.0
POLL_SECONDS = 0.5
TERMINAL = {"success", "failed"}


def project_dags() -> Path:
    """The DAGs shipped in the package (``loanrisk/project/dags``)."""
    return shipped_dags()


@dataclass
class Deployment:
    """A started deployment: its AIRFLOW_HOME, environment, database and processes."""

    home: Path
    env: dict[str, str]
    postgres: Postgres
    api_port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run ``airflow ARGS`` against the deployment; its output, or ``DeploymentError``."""
        command = [sys.executable, "-m", "airflow", *args]
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            reason = lines[-1] if lines else f"exit code {done.returncode}"
            raise DeploymentError(f"airflow {' '.join(args[:2])}", reason)
        return done.stdout

    def query(self, sql: str, *params) -> list[tuple]:
        """Rows of one query on the metadata database (read-only use: runs, task states)."""
        with self.postgres.connect() as connection:
            return connection.execute(sql, params).fetchall()

    def check_running(self) -> None:
        """``DeploymentError`` naming a component that has exited, with its log's last line."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise DeploymentError(f"airflow {name}", f"exited: {_last_line(self.log(name))}")

    def log(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.log"

    def stop(self) -> None:
        """Stop the components (SIGTERM to each process group, then SIGKILL) and the database."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        self.postgres.stop()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)  # the component's own group (start_new_session)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"


def airflow_env(home: Path, postgres: Postgres, api_port: int, dags: Path, config_dir) -> dict:
    """The deployment's environment: this one plus Airflow's settings (see the module doc)."""
    api = f"http://127.0.0.1:{api_port}"
    from cryptography.fernet import Fernet

    settings = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": postgres.url(),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # look for the next task to queue every 0.25 s, not 1 s: a day is ~20 tasks in a chain
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(home / "lineage.jsonl"), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "loanrisk",
        "AIRFLOW__OPENLINEAGE__EXTRACTORS": "loanrisk.airflow.lineage.StepExtractor",
    }
    if config_dir is not None:
        settings["LOANRISK_CONFIG"] = str(config_dir)
    return {**os.environ, **settings}


def _write_env_file(home: Path, env: dict[str, str]) -> Path:
    """``HOME/airflow.env`` (owner-only: it holds the database password and the secrets)."""
    names = sorted(n for n in env if n.startswith("AIRFLOW") or n == "LOANRISK_CONFIG")
    path = home / "airflow.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"export {n}='{env[n]}'\n" for n in names), encoding="utf-8")
    return path


def start(home: Path, dags: Path | None = None, config_dir: Path | None = None) -> Deployment:
    """Start PostgreSQL and Airflow (module doc); returns once the api-server answers and the
    DAG files are parsed. Stop it with ``Deployment.stop()``."""
    home = Path(home).resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    postgres = start_postgres()
    env = airflow_env(home, postgres, free_port(), dags or project_dags(), config_dir)
    deployment = Deployment(home, env, postgres, int(env["AIRFLOW__API__PORT"]))
    try:
        _write_env_file(home, env)
        deployment.airflow("db", "migrate", timeout=600)
        deployment.airflow("pools", "set", RUN_POOL, "1", "loanrisk run lock: one writing task")
        for name in COMPONENTS:
            deployment.processes[name] = _spawn(deployment, name)
        _wait(deployment, lambda: _answers(f"{deployment.api_url}/api/v2/monitor/health"))
        _wait(deployment, lambda: _parsed(deployment))
    except BaseException:
        deployment.stop()
        raise
    return deployment


def _spawn(deployment: Deployment, name: str) -> subprocess.Popen:
    with deployment.log(name).open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", name],
            env=deployment.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )


def _terminate_with_parent() -> None:
    """In the child before exec: SIGTERM when the starting process dies without ``stop()``
    (a test run killed), so no scheduler is left running on its own (Linux prctl)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait(deployment: Deployment, ready) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        deployment.check_running()
        if time.monotonic() > deadline:
            raise DeploymentError("airflow start", f"not ready in {START_SECONDS:g}s")
        time.sleep(POLL_SECONDS)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _parsed(deployment: Deployment) -> bool:
    """Every DAG file of the folder is serialized (a dag row per file, none in error; a
    package's ``__init__.py`` holds no DAG)."""
    errors = deployment.query("SELECT filename, stacktrace FROM import_error")
    if errors:
        raise DeploymentError("DAG import", f"{errors[0][0]}: {_last_line_of(errors[0][1])}")
    folder = Path(deployment.env["AIRFLOW__CORE__DAGS_FOLDER"])
    files = {p.name for p in folder.glob("*.py") if not p.name.startswith("_")}  # __init__.py
    rows = deployment.query("SELECT relative_fileloc FROM dag WHERE NOT is_stale")
    return files <= {Path(str(row[0])).name for row in rows}


def _last_line_of(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def backfill(deployment: Deployment, dag_id: str, first: str, last: str, conf: dict) -> None:
    """Unpause ``dag_id`` (no scheduled run follows: see the module doc) and create a backfill
    of ``first`` .. ``last`` with ``conf``, one run at a time (``backfill create`` does not
    apply the DAG's ``max_active_runs``; the days chain, so it is passed). A day that already
    has a run is run again only if that run failed (Airflow asks for a choice because
    ``age_loans`` depends on the past; a published day is rerun by ``loanrisk reprocess``)."""
    deployment.airflow("dags", "unpause", dag_id)
    _wait_for_no_backfill(deployment, dag_id, START_SECONDS)
    deployment.airflow(
        "backfill", "create", "--dag-id", dag_id, "--from-date", first, "--to-date", last,
        "--max-active-runs", "1", "--reprocess-behavior", "failed",
        "--dag-run-conf", json.dumps(conf),
    )  # fmt: skip


def _wait_for_no_backfill(deployment: Deployment, dag_id: str, timeout: float) -> None:
    """Airflow allows one running backfill per DAG, and the scheduler marks a backfill complete
    a moment after its last run ended: wait for that before creating the next."""
    deadline = time.monotonic() + timeout
    running = "SELECT count(*) FROM backfill WHERE dag_id = %s AND completed_at IS NULL"
    while deployment.query(running, dag_id)[0][0]:
        deployment.check_running()
        if time.monotonic() > deadline:
            raise DeploymentError(f"{dag_id} backfill", f"still running after {timeout:g}s")
        time.sleep(POLL_SECONDS)


def wait_for_runs(deployment: Deployment, dag_id: str, first: str, last: str, timeout: float):
    """``{logical date: state}`` of ``dag_id``'s runs of ``first`` .. ``last`` once each has
    ended (success or failed); ``DeploymentError`` on a timeout or a component exiting."""
    deadline, days = time.monotonic() + timeout, _days(first, last)
    while True:
        rows = deployment.query(
            "SELECT logical_date, state FROM dag_run WHERE dag_id = %s "
            "AND (logical_date AT TIME ZONE 'UTC')::date BETWEEN %s AND %s",
            *(dag_id, first, last),
        )
        states = {row[0].date().isoformat(): row[1] for row in rows}
        if len(states) == days and set(states.values()) <= TERMINAL:
            return states
        deployment.check_running()
        if time.monotonic() > deadline:
            raise DeploymentError(f"{dag_id} runs", f"not finished in {timeout:g}s: {states}")
        time.sleep(POLL_SECONDS)


def _days(first: str, last: str) -> int:
    return (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1


def serve(home: Path, dags: Path | None, config_dir: Path | None) -> int:
    """``make airflow``: start, say how to use it, run until Ctrl-C, stop."""
    deployment = start(home, dags, config_dir)
    try:
        print(f"Airflow UI / API: {deployment.api_url} (users: {home}/simple_auth_manager*)")
        print(f"airflow commands: source {home}/airflow.env && airflow dags list")
        print("run the days:     airflow dags unpause loan_daily && airflow backfill create \\")
        print("    --dag-id loan_daily --from-date D1 --to-date D2 --max-active-runs 1")
        print(f"logs: {home}/logs; Ctrl-C stops Airflow and deletes its database")
        while True:
            deployment.check_running()
            time.sleep(5)
    except KeyboardInterrupt:
        return 0
    finally:
        deployment.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loanrisk.airflow.deploy")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("home", type=Path, help="AIRFLOW_HOME: settings, logs, lineage")
    parser.add_argument("--dags", type=Path, help="the DAGs folder (default: the checkout's)")
    parser.add_argument("--config", type=Path, help="LOANRISK_CONFIG for the DAGs' policy")
    args = parser.parse_args(argv)
    return serve(args.home, args.dags, args.config)


if __name__ == "__main__":
    sys.exit(main())
