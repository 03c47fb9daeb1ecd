"""A stored day rerun through Airflow (DESIGN.md §5b), as the CLI's reprocess: the DAG run
works in a shadow of the data_root and publishes only when its whole chain succeeds; a run that
stops on a gate leaves every day as published, and the same run cleared and rerun switches in.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import backfilled_book, correct_day, outputs

from loanrisk.errors import AirflowRunError
from loanrisk.lake.status import day_statuses
from loanrisk.lake.storage import Lake, read_json
from loanrisk.lake.versions import journals

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

START, DAYS = dt.date(2026, 6, 1), 3
DAY2 = START + dt.timedelta(days=1)


def statuses(lake: Lake) -> list[str]:
    return [d["status"] for d in day_statuses(lake)]


def test_a_dag_run_rerunning_a_stored_day_publishes_only_when_it_all_succeeds(tmp_path, config_dir):
    from loanrisk.airflow.airflow_local import run_dag_test
    from loanrisk.config import load_settings

    root = backfilled_book(tmp_path, config_dir, START, DAYS, 80, 13)
    lake, settings = Lake(root, root / "landing"), load_settings(config_dir, root)
    before = outputs(root)
    loans = lake.landing_file(f"loans_{DAY2}.csv")
    good = loans.read_bytes()
    rows = pl.read_csv(loans, infer_schema=False)
    rows.head(rows.height // 2).write_csv(loans)  # a resent file that trips the row-count gate

    with pytest.raises(AirflowRunError):
        run_dag_test(DAY2, settings)
    assert outputs(root) == before  # every zone of every day as published
    assert statuses(lake) == ["published"] * DAYS

    loans.write_bytes(good)
    correct_day(root / "landing", DAY2)
    run_dag_test(DAY2, settings)  # the same run (dag.test's run id), cleared and rerun
    assert statuses(lake) == ["published"] * DAYS
    assert read_json(lake.run_manifest(DAY2))["restatements"]
    assert outputs(root) != before
    assert [journal["state"] for _, journal in journals(lake)] == ["done"]
