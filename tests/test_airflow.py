"""The loan_daily DAG: loads cleanly, is wired as designed, and writes what the CLI writes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from conftest import PROJECT

pytestmark = pytest.mark.airflow

FEEDS = ["loan_snapshot", "events", "contacts"]
MIDDLE = ["age_loans", "compute_signals", "score_loans", "build_regulatory", "build_collections"]
TAIL = ["publish_warehouse", "finalize_run", "build_report"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=PROJECT / "dags")


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "loan_daily" in dagbag.dag_ids


def test_loan_daily_is_wired_as_designed(dagbag):
    dag = dagbag.dags["loan_daily"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "0 0 * * *" in repr(dag.timetable)
    order = [t.task_id for t in dag.topological_sort()]
    feed_tasks = {f"{s}_{f}" for f in FEEDS for s in ("ingest", "validate")}
    assert set(order) == feed_tasks | set(MIDDLE) | set(TAIL)
    for feed in FEEDS:
        assert order.index(f"ingest_{feed}") < order.index(f"validate_{feed}")
        for task in MIDDLE:
            assert order.index(f"validate_{feed}") < order.index(task)
    assert order[-len(TAIL) :] == TAIL
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
    assert set(dag.params.keys()) == {"data_root", "config_dir", "accept_gates", "allow_gap"}


def test_dag_file_has_no_heavy_top_level_imports():
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('polars', 'duckdb', 'great_expectations', 'loanrisk.stages') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(PROJECT / "dags" / "loan_daily.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == ""


@pytest.mark.slow
def test_dag_test_writes_the_same_loan_aging_as_the_cli(tmp_path, config_dir):
    from loanrisk.airflow_local import run_dag_test
    from loanrisk.cli import main
    from loanrisk.config import load_settings
    from loanrisk.storage import Lake, sha256_file
    from loanrisk.synth import generate

    day = dt.date(2026, 4, 1)
    cli_root, dag_root = tmp_path / "cli", tmp_path / "dag"
    for root in (cli_root, dag_root):
        generate(day, 1, 150, 3, root / "landing", config_dir)
    assert (
        main(["run", "--date", str(day), "--data-root", str(cli_root), "--config", str(config_dir)])
        == 0
    )
    run_dag_test(day, load_settings(config_dir, dag_root))
    for zone, table in (("curated", "loan_aging"), ("raw", "loan_snapshot")):
        cli_file = Lake(cli_root, cli_root / "landing").partition_file(zone, table, day)
        dag_file = Lake(dag_root, dag_root / "landing").partition_file(zone, table, day)
        assert sha256_file(dag_file) == sha256_file(cli_file), table
    assert (dag_root / "runs" / day.isoformat() / "manifest.json").read_bytes() == (
        cli_root / "runs" / day.isoformat() / "manifest.json"
    ).read_bytes()
