"""OpenLineage datasets of the loanrisk tasks (issue 23, point 5): each published table is the
output of the task that writes it and an input of the tasks that read it, named by its real
location under the run's data_root (``loanrisk.airflow.lineage``, ``loanrisk.pipeline.lineage``).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections import defaultdict
from pathlib import Path

import pytest

from loanrisk.pipeline.lineage import dataset_path, step_uses, task_uses
from loanrisk.pipeline.registry import DAILY, STEPS

FEEDS = ("loan_snapshot", "events", "contacts")


def test_a_per_feed_task_reads_and_writes_its_own_feed():
    ingest, validate = STEPS["ingest"], STEPS["validate"]
    assert task_uses(ingest, "events") == {
        ("read", ("landing", "events")),
        ("write", ("staging", "events")),
    }
    uses = task_uses(validate, "contacts")
    assert ("read", ("staging", "contacts")) in uses
    assert {("write", ("raw", "contacts")), ("write", ("quarantine", "contacts"))} <= uses
    assert not [use for use in uses if use[1][1] in FEEDS and use[1][1] != "contacts"]
    # the steps' own reads of every feed's tables stay (the catalog's view): a day task
    assert task_uses(STEPS["age_loans"]) == step_uses(STEPS["age_loans"])


def test_the_month_end_rebuild_writes_what_build_regulatory_publishes():
    written = {where for kind, where in step_uses(STEPS["rebuild_regulatory"]) if kind == "write"}
    assert ("curated", "reg_five_category") in written
    assert ("extracts", "regulatory") in written


def test_dataset_paths_are_the_tables_folders_under_the_data_root(settings):
    from loanrisk.lake.storage import lake_of

    lake, day = lake_of(settings), dt.date(2026, 4, 2)
    root, contracts = settings.data_root, settings.contracts_dir
    assert dataset_path(lake, ("curated", "loan_aging"), day, contracts) == (
        root / "lake" / "curated" / "loan_aging"
    )
    assert dataset_path(lake, ("marts", "roll_rates"), day, contracts).parent == (
        root / "lake" / "marts"
    )
    assert dataset_path(lake, ("extracts", "regulatory"), day, contracts) == (
        root / "extracts" / "regulatory"
    )
    landing = dataset_path(lake, ("landing", "loan_snapshot"), day, contracts)
    assert landing.parent == lake.landing_dir and "2026-04-02" in landing.name
    assert dataset_path(lake, ("warehouse", "warehouse.duckdb"), day, contracts) == lake.warehouse


def _completed(lineage_file: Path) -> dict[str, list[dict]]:
    """The COMPLETE events of each task, by task id."""
    events = defaultdict(list)
    for line in lineage_file.read_text().splitlines():
        event = json.loads(line)
        if event["eventType"] == "COMPLETE" and event["job"]["name"].startswith("loan_daily."):
            events[event["job"]["name"].removeprefix("loan_daily.")].append(event)
    return events


def _names(events: list[dict], key: str) -> set[str]:
    return {dataset["name"] for event in events for dataset in event[key]}


@pytest.mark.airflow
def test_the_dags_events_carry_each_tasks_inputs_and_outputs(tmp_path, config_dir):
    """Two days of 60 loans through loan_daily (dag.test): every task but ``shard_numbers``
    names datasets; each published table on disk is the output of its writer and an input of
    its readers, by the same absolute path on both days."""
    from loanrisk.airflow import lineage
    from loanrisk.airflow.airflow_local import LINEAGE_EXTRACTOR, run_dag_test
    from loanrisk.config import load_settings
    from loanrisk.lake.storage import lake_of
    from loanrisk.synth import generate

    assert LINEAGE_EXTRACTOR == lineage.EXTRACTOR
    first, root = dt.date(2026, 4, 1), tmp_path / "data"
    generate(first, 2, 60, 3, root / "landing", config_dir)
    settings = load_settings(config_dir, root)
    run_dag_test(first, settings, first + dt.timedelta(days=1))
    lake, contracts = lake_of(settings), settings.contracts_dir
    events = _completed(lake.lineage_file)

    datasets = [d for found in events.values() for e in found for d in e["inputs"] + e["outputs"]]
    hosts = {socket.gethostname(), socket.getfqdn()}  # Airflow's hostname_callable: one of them
    assert {d["namespace"] for d in datasets} <= {f"file://{host}" for host in hosts}
    assert len({d["namespace"] for d in datasets}) == 1
    assert all(Path(d["name"]).is_absolute() for d in datasets)
    assert not {d["name"] for d in datasets if not Path(d["name"]).exists()}
    bare = {
        task
        for task, found in events.items()
        if not _names(found, "inputs") | _names(found, "outputs")
    }
    assert bare == {"shard_numbers"}
    # A table is one dataset across runs: a day task names the same paths on both days.
    assert len(events["age_loans"]) == 2
    assert events["age_loans"][0]["outputs"] == events["age_loans"][1]["outputs"]

    def writers(path: Path) -> set[str]:
        return {task for task, found in events.items() if str(path) in _names(found, "outputs")}

    def readers(path: Path) -> set[str]:
        return {task for task, found in events.items() if str(path) in _names(found, "inputs")}

    # Every published table on disk (found on disk, not from the lineage code: a folder with a
    # data contract; the report's month-to-date caches in marts are none) has a writer and a
    # reader.
    zones = [root / "lake" / zone for zone in ("raw", "curated", "marts")]
    contracted = {path.stem for path in contracts.glob("*.yaml")}
    tables = [p for zone in zones for p in zone.iterdir() if p.name in contracted]
    assert len(tables) == 23
    for table in tables:
        assert writers(table) and readers(table), table
    # Each step publishing a table (the registry's assets) is its writer (the credit-bureau
    # report only on its reporting day: not in these two days).
    last = first + dt.timedelta(days=1)
    for step in DAILY:
        for zone, table in step.assets:
            path = dataset_path(lake, (zone.removeprefix("lake/"), table), last, contracts)
            assert path.exists() or table == "reg_credit_report", path
            assert step.name in writers(path) or not path.exists(), (step.name, table)
    # Readers, as DESIGN.md §11 lists them.
    curated = root / "lake" / "curated"
    assert {"ingest", "wait_for_loans_file"} <= readers(
        dataset_path(lake, ("landing", "loan_snapshot"), first, contracts)
    )
    assert writers(root / "lake" / "staging" / "events") == {"ingest"}
    assert readers(root / "lake" / "staging" / "events") == {"validate", "validate_shard"}
    assert writers(root / "lake" / "raw" / "loan_snapshot") == {"validate"}
    assert {"age_loans", "compute_signals", "publish_warehouse"} <= readers(
        root / "lake" / "raw" / "loan_snapshot"
    )
    assert {"score_loans", "build_regulatory", "build_collections", "publish_warehouse"} <= (
        readers(curated / "loan_aging")
    )
    assert {"score_loans", "publish_warehouse"} <= readers(curated / "borrower_signals")
    assert {"build_regulatory", "build_collections"} <= readers(curated / "loan_risk")
    assert {"finalize_run", "build_report"} <= readers(lake.warehouse)
