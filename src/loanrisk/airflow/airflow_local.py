"""Run the ``loan_daily`` DAG locally with ``dag.test()`` on an embedded SQLite metadata database.

Airflow reads its settings from the environment when it is first imported, so the DAG runs in a
child process with ``AIRFLOW_HOME`` under ``<data_root>/airflow``:

    python -m loanrisk.airflow.airflow_local test FIRST_DATE DATA_ROOT CONFIG_DIR LAST_DATE
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from loanrisk.config import Settings, shipped_dags
from loanrisk.errors import AirflowRunError
from loanrisk.lake.storage import lake_of

DAG_ID = "loan_daily"
#: ``loanrisk.airflow.lineage.StepExtractor`` by name: importing that module imports Airflow,
#: which must first be imported in the child process, under its environment.
LINEAGE_EXTRACTOR = "loanrisk.airflow.lineage.StepExtractor"


def airflow_env(home: Path, dags: Path, lineage: Path | None = None) -> dict[str, str]:
    """Environment for a self-contained Airflow: SQLite metadata, this project's dags only, and
    OpenLineage events appended to ``lineage`` (the provider's file transport) when given, with
    each task's input and output datasets (``LINEAGE_EXTRACTOR``)."""
    env = dict(os.environ)
    if lineage is not None:
        lineage.parent.mkdir(parents=True, exist_ok=True)
        transport = {"type": "file", "log_file_path": str(lineage), "append": True}
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
        env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "loanrisk"
        env["AIRFLOW__OPENLINEAGE__EXTRACTORS"] = LINEAGE_EXTRACTOR
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise AirflowRunError(what, reason)


def run_dag_test(business_date: dt.date, settings: Settings, last: dt.date | None = None) -> None:
    """Migrate the SQLite metadata DB (idempotent) and run the DAG with ``dag.test()`` for
    ``business_date`` (through ``last``, one run a day, in one process)."""
    lake = lake_of(settings)
    home = lake.airflow_home
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home, shipped_dags(), lake.lineage_file)  # the run conf names the config
    _run([sys.executable, "-m", "airflow", "db", "migrate"], env, "airflow db migrate")
    _run(
        [
            sys.executable,
            "-m",
            "loanrisk.airflow.airflow_local",
            "test",
            business_date.isoformat(),
            str(settings.data_root),
            str(settings.config_dir),
            (last or business_date).isoformat(),
        ],
        env,
        f"dag.test of {DAG_ID} for {business_date}" + (f" to {last}" if last else ""),
    )


def _dag_test(first: str, data_root: str, config_dir: str, last: str) -> int:
    """Child-process side: load the DAG through a DagBag and run it once a day, in order."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 1
    dag = bag.dags[DAG_ID]
    # Airflow 3.3.2: at the end of dag.test() the run looks its deadline alerts up by id, but
    # the in-process DAG holds the alert objects (a scheduled run holds ids): drop them here.
    dag.deadline = None
    day, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    while day <= end:
        logical = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        run = dag.test(
            logical_date=logical,
            run_after=logical,
            run_conf={"data_root": data_root, "config_dir": config_dir},
        )
        if run.state != DagRunState.SUCCESS:
            print(f"dag run {run.run_id} ended {run.state}", file=sys.stderr)
            return 1
        day += dt.timedelta(days=1)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "test":
        sys.exit(__doc__)
    sys.exit(_dag_test(*sys.argv[2:]))
