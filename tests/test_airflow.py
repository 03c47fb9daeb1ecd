"""The loan_daily and loan_monthly DAGs: load cleanly, are wired as designed, alert as
documented, and loan_daily writes what the CLI writes."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import SHIPPED, outputs

pytestmark = pytest.mark.airflow

FEEDS = ["loan_snapshot", "events", "contacts"]
MIDDLE = ["age_loans", "compute_signals", "score_loans", "build_regulatory", "build_collections"]
TAIL = ["recompute_later_days", "publish_warehouse", "finalize_run", "build_report"]
SHARDED = {
    "validate_shard": "validate",  # mapped over the feeds and shard_numbers
    "age_loans_shard": "age_loans",
    "compute_signals_shard": "compute_signals",
    "score_loans_shard": "score_loans",
    "build_collections_shard": "build_collections",
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=SHIPPED / "dags")


@pytest.fixture(scope="module")
def airflow_policy():
    from loanrisk.pipeline.orchestration import airflow_policy

    return airflow_policy(SHIPPED / "config")


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"loan_daily", "loan_monthly"} <= set(dagbag.dag_ids)


def test_loan_daily_is_wired_as_designed(dagbag):
    dag = dagbag.dags["loan_daily"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert "0 0 * * *" in repr(dag.timetable)
    order = [t.task_id for t in dag.topological_sort()]
    feed_tasks = {"ingest", "validate"}  # mapped over the feeds
    expected = {"wait_for_loans_file", "shard_numbers"} | feed_tasks | set(MIDDLE) | set(TAIL)
    assert set(order) == expected | set(SHARDED)
    for shard_task, combine in SHARDED.items():  # mapped over shard_numbers, then combined
        assert dag.get_task(shard_task).upstream_task_ids >= {"shard_numbers"}
        assert order.index(shard_task) < order.index(combine)
        assert type(dag.get_task(shard_task)).__name__.endswith("MappedOperator")
    assert order.index("age_loans") < order.index("score_loans_shard")
    assert order[0] == "wait_for_loans_file"
    assert dag.get_task("wait_for_loans_file").downstream_task_ids == {"ingest"}
    for task in ("ingest", "validate"):
        assert type(dag.get_task(task)).__name__.endswith("MappedOperator")
    assert order.index("ingest") < order.index("shard_numbers") < order.index("validate")
    for task in MIDDLE:
        assert order.index("validate") < order.index(task)
    assert order.index("score_loans") < order.index("build_collections_shard")
    assert order[-len(TAIL) :] == TAIL
    assert dag.get_task("recompute_later_days").upstream_task_ids == {
        "build_regulatory",
        "build_collections",
    }
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
    assert set(dag.params.keys()) == {"data_root", "config_dir", "accept_gates", "allow_gap"}


@pytest.mark.parametrize("dag_file", ["loan_daily.py", "loan_monthly.py"])
def test_dag_file_has_no_heavy_top_level_imports(dag_file):
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('polars', 'duckdb', 'great_expectations', "
        "'loanrisk.pipeline.stages') "
        "if m in sys.modules]; print('HEAVY=' + ','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(SHIPPED / "dags" / dag_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    # (Airflow may log warnings to stdout; only the marked line is the answer.)
    [heavy] = [line for line in done.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == "HEAVY="


def test_landing_sensor_reschedules_with_the_configured_timeout(dagbag, airflow_policy):
    sensor = dagbag.dags["loan_daily"].get_task("wait_for_loans_file")
    assert sensor.mode == "reschedule"
    assert sensor.timeout == airflow_policy.landing_timeout_hours * 3600
    assert sensor.poke_interval == airflow_policy.landing_poke_interval_seconds
    assert sensor.soft_fail is False


def test_only_age_loans_depends_on_past(dagbag):
    dag = dagbag.dags["loan_daily"]
    assert {t.task_id for t in dag.tasks if t.depends_on_past} == {"age_loans"}


def test_every_published_table_is_an_asset_outlet(dagbag):
    from loanrisk.lake.storage import CURATED_TABLES

    dag = dagbag.dags["loan_daily"]
    uris = {a.uri: t.task_id for t in dag.tasks for a in t.outlets}
    expected = {f"loanrisk://lake/curated/{table}" for table in CURATED_TABLES}
    expected |= {
        "loanrisk://lake/curated/reg_credit_report",
        "loanrisk://warehouse/warehouse.duckdb",
        "loanrisk://runs/published",
    }
    assert expected <= set(uris)
    assert uris["loanrisk://lake/curated/loan_aging"] == "age_loans"
    assert uris["loanrisk://lake/curated/loan_state"] == "age_loans"
    assert uris["loanrisk://lake/curated/loan_risk"] == "score_loans"
    assert uris["loanrisk://lake/curated/risk_actions"] == "score_loans"
    assert uris["loanrisk://lake/curated/collections_queue"] == "build_collections"
    assert uris["loanrisk://lake/curated/reg_five_category"] == "build_regulatory"
    assert uris["loanrisk://warehouse/warehouse.duckdb"] == "publish_warehouse"
    assert uris["loanrisk://runs/published"] == "finalize_run"
    for mart in ("roll_rates", "portfolio_summary", "vintage_curves"):  # DESIGN.md §3
        assert uris[f"loanrisk://lake/marts/{mart}"] == "finalize_run"


@pytest.mark.parametrize("dag_id", ["loan_daily", "loan_monthly"])
def test_deadline_alert_and_failure_callback_are_configured(dagbag, airflow_policy, dag_id):
    from airflow.sdk import DeadlineReference

    from loanrisk.airflow.alerts import on_task_failure

    dag = dagbag.dags[dag_id]
    [deadline] = dag.deadline
    assert deadline.reference == DeadlineReference.DAGRUN_QUEUED_AT
    hours = airflow_policy.run_deadline_hours
    if dag_id == "loan_monthly":
        hours += airflow_policy.month_end_timeout_hours
    assert deadline.interval == dt.timedelta(hours=hours)
    assert deadline.callback.path == "loanrisk.airflow.alerts.on_deadline_missed"
    for task in dag.tasks:
        callbacks = task.on_failure_callback  # a mapped task keeps the bare function
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert on_task_failure in callbacks, task.task_id


def _alerts(root, day):
    path = root / "runs" / day / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_failure_callback_appends_an_alert_line(tmp_path, config_dir):
    from loanrisk.airflow.alerts import on_task_failure

    params = {"data_root": str(tmp_path), "config_dir": str(config_dir)}
    ti = SimpleNamespace(task_id="age_loans", dag_id="loan_daily", run_id="r1", try_number=3)
    context = {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="loan_daily"),
        "ds": "2026-04-02",
        "params": params,
        "exception": ValueError("no previous day"),
    }
    on_task_failure(context)
    on_task_failure(context)
    alerts = _alerts(tmp_path, "2026-04-02")
    assert len(alerts) == 2
    assert alerts[0] == {
        "kind": "task_failed",
        "dag_id": "loan_daily",
        "task_id": "age_loans",
        "map_index": None,
        "run_id": "r1",
        "try_number": 3,
        "ds": "2026-04-02",
        "code": "ValueError",
        "gate": None,
        "exception": "ValueError: no previous day",
    }


def test_deadline_callback_appends_an_alert_line(tmp_path, config_dir):
    from loanrisk.airflow.alerts import on_deadline_missed

    run = {
        "dag_id": "loan_daily",
        "dag_run_id": "scheduled__2026-04-02",
        "logical_date": "2026-04-02T00:00:00Z",
        "conf": {"data_root": str(tmp_path), "config_dir": str(config_dir)},
    }
    on_deadline_missed(context={"dag_run": run, "deadline": {"deadline_time": "t"}})
    [alert] = _alerts(tmp_path, "2026-04-02")
    assert alert["kind"] == "deadline_missed"
    assert alert["run_id"] == "scheduled__2026-04-02"
    assert alert["deadline"] == "t"


def test_a_broken_alert_target_only_logs(tmp_path):
    from loanrisk.airflow.alerts import write_alert

    assert write_alert({"ds": "2026-04-02"}, {"config_dir": str(tmp_path / "none")}) is None


def test_landing_file_ready(tmp_path, config_dir):
    from loanrisk.airflow.sensors import expected_landing_file, landing_file_ready

    params = {"data_root": str(tmp_path), "config_dir": str(config_dir)}
    landing = tmp_path / "landing"
    landing.mkdir()
    assert not landing_file_ready("2026-04-01", params)
    assert expected_landing_file("2026-04-01", params) == landing / "loans_2026-04-01.csv"
    (landing / "loans_2026-04-01.parquet").write_bytes(b"PAR1")
    assert landing_file_ready("2026-04-01", params)
    assert not landing_file_ready("2026-04-02", params)
    (landing / "loans_2026-04-02.csv").write_text("snapshot_date\n", encoding="utf-8")
    assert landing_file_ready("2026-04-02", params)


def test_landing_sensor_fails_naming_the_file_after_its_timeout(tmp_path, config_dir, monkeypatch):
    import airflow.sdk
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from loanrisk.airflow.sensors import poke_landing_file

    params = {"data_root": str(tmp_path), "config_dir": str(config_dir)}
    started = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    context = {
        "task": SimpleNamespace(timeout=7200.0),
        "ti": SimpleNamespace(get_first_reschedule_date=lambda _: started),
    }
    monkeypatch.setattr(airflow.sdk, "get_current_context", lambda: context, raising=False)
    with pytest.raises(AirflowSensorTimeout, match=r"loans_2026-04-01\.csv .*within 2 h"):
        poke_landing_file("2026-04-01", params)
    context["task"] = SimpleNamespace(timeout=3 * 7200.0)
    assert poke_landing_file("2026-04-01", params) is False


def test_loan_monthly_is_wired_as_designed(dagbag, airflow_policy):
    dag = dagbag.dags["loan_monthly"]
    assert "0 0 1 * *" in repr(dag.timetable)
    assert dag.catchup is False and dag.max_active_runs == 1
    order = [t.task_id for t in dag.topological_sort()]
    assert order[0] == "wait_for_month_end"
    assert set(order) == {
        "wait_for_month_end",
        "rebuild_regulatory",
        "publish_warehouse",
        "score_monitoring_summary",
        "refit_scorecard",
    }
    assert dag.get_task("wait_for_month_end").downstream_task_ids == {
        "rebuild_regulatory",
        "publish_warehouse",
        "score_monitoring_summary",
        "refit_scorecard",
    }
    assert order.index("rebuild_regulatory") < order.index("publish_warehouse")
    sensor = dag.get_task("wait_for_month_end")
    assert sensor.mode == "reschedule"
    assert sensor.timeout == airflow_policy.month_end_timeout_hours * 3600
    assert dag.params["refit"] is False
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id


def test_refit_is_skipped_unless_asked():
    from airflow.sdk.exceptions import AirflowSkipException

    from loanrisk.pipeline.orchestration import run_task

    with pytest.raises(AirflowSkipException):
        run_task("refit_scorecard", "2026-04-30", {"refit": False})


@pytest.mark.parametrize("dag_id", ["loan_daily", "loan_monthly"])
def test_every_task_is_a_registry_step_of_the_same_name(dagbag, dag_id):
    """One name per step: DAG task id = registry key = the step function's name."""
    from loanrisk.pipeline.registry import STEPS

    dag = dagbag.dags[dag_id]
    glue = {"wait_for_loans_file", "shard_numbers", "wait_for_month_end"}
    for task in dag.tasks:
        if task.task_id in glue:
            continue
        assert task.task_id in STEPS, task.task_id
        assert STEPS[task.task_id].function.__name__ == task.task_id
    if dag_id == "loan_daily":
        from loanrisk.pipeline.registry import DAILY

        assert {t.task_id for t in dag.tasks} - glue == {step.name for step in DAILY}


@pytest.mark.slow
def test_thirty_days_through_the_dag_publish_the_bytes_of_the_cli_backfill(tmp_path, config_dir):
    """30 days through loan_daily (dag.test per day, shard tasks mapped over 2 shards) against
    `loanrisk backfill` of the same days (unsharded): the same published bytes."""
    from loanrisk.airflow.airflow_local import run_dag_test
    from loanrisk.cli import main
    from loanrisk.config import load_settings
    from loanrisk.lake.storage import Lake
    from loanrisk.synth import generate

    first, last = dt.date(2026, 4, 1), dt.date(2026, 4, 30)
    cli_root, dag_root = tmp_path / "cli", tmp_path / "dag"
    for root in (cli_root, dag_root):
        generate(first, 30, 60, 3, root / "landing", config_dir)
    span = ["--start", str(first), "--end", str(last)]
    assert main(["backfill", *span, "--data-root", str(cli_root), "--config", str(config_dir)]) == 0
    two_shards = tmp_path / "config"
    shutil.copytree(config_dir, two_shards)
    (two_shards / "execution.yaml").write_text("shards: 2\n")
    for folder in ("data_contracts", "dags"):
        shutil.copytree(config_dir.parent / folder, tmp_path / folder)
    settings = load_settings(two_shards, dag_root)
    assert settings.execution.shards == 2
    assert settings.config_hash == load_settings(config_dir).config_hash
    run_dag_test(first, settings, last)
    published = outputs(cli_root)
    assert len([p for p in published if p.endswith("manifest.json")]) >= 30
    assert outputs(dag_root) == published
    assert not list((dag_root / "runs").glob("*/alerts.jsonl"))
    # OpenLineage (provider, file transport): a START and a COMPLETE event for every task
    events = [
        json.loads(line)
        for line in Lake(dag_root, dag_root / "landing").lineage_file.read_text().splitlines()
    ]
    completed = {e["job"]["name"] for e in events if e["eventType"] == "COMPLETE"}
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=SHIPPED / "dags").dags["loan_daily"]
    assert {f"loan_daily.{t.task_id}" for t in dag.tasks} <= completed
    _month_end_work_reads_the_published_days(load_settings(config_dir, cli_root), first)


def _month_end_work_reads_the_published_days(settings, first):
    """loanrisk.pipeline.monthly on a lake holding the whole of April, published."""
    from loanrisk.pipeline import monthly

    lake = monthly.lake_of(settings)
    assert monthly.last_published_day(lake, dt.date(2026, 4, 20)) == dt.date(2026, 4, 30)
    assert monthly.last_published_day(lake, dt.date(2026, 3, 31)) is None
    assert monthly.month_closed(lake, first) == dt.date(2026, 4, 30)
    path = monthly.monitoring_summary(settings, dt.date(2026, 4, 30))
    assert path == settings.data_root / "reports" / "2026-04" / "monitoring.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    assert summary["month"] == "2026-04" and summary["days"] == 30
    daily = summary["daily"]
    assert [d["snapshot_date"] for d in daily][:2] == ["2026-04-01", "2026-04-02"]
    assert len(daily) == 30 and all(d["scored_loans"] > 0 for d in daily)
    assert summary["max_psi"] == max(d["psi"] for d in daily)
    stability = settings.risk.scorecard.stability  # the report's reading too
    assert summary["thresholds"] == {"watch": stability.watch, "shift": stability.shift}
    assert summary["reading"] == stability.reading(summary["max_psi"])
    with pytest.raises(monthly.InputFileError, match="no partition in 2026-05"):
        monthly.monitoring_summary(settings, dt.date(2026, 5, 1))
