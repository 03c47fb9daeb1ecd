"""Operational policy read from config/: the Airflow retries (``airflow:`` of pipeline.yaml) and
the GX worker processes (``gx_workers`` of execution.yaml). A bad value is refused naming its
key; a good one reaches the code that uses it."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
import yaml

from loanrisk.config import load_settings
from loanrisk.errors import ConfigError
from loanrisk.pipeline.orchestration import airflow_policy

DAY = dt.date(2026, 5, 1)


@pytest.fixture
def project(tmp_path, config_dir):
    """A copy of the project's config/ (with data_contracts/ and dags/) to edit."""
    root = tmp_path / "project"
    shutil.copytree(config_dir.parent, root)
    return root / "config"


def edit(config, file_name: str, block: str | None, **values) -> None:
    path = config / file_name
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    (document[block] if block else document).update(values)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"retries": -1}, r"airflow\.retries: .*greater than or equal to 0"),
        ({"retries": "twice"}, r"airflow\.retries: "),
        ({"retry_delay_minutes": 0}, r"airflow\.retry_delay_minutes: .*greater than 0"),
        ({"retry_delay_minutes": 45}, r"airflow: .*retry_delay_minutes \(45.*must not exceed"),
        ({"retry_exponential_backoff": "sometimes"}, r"airflow\.retry_exponential_backoff: "),
        ({"max_retry_delay_minutes": -5}, r"airflow\.max_retry_delay_minutes: "),
    ],
)
def test_a_bad_retry_setting_is_refused_naming_its_key(project, values, message):
    edit(project, "pipeline.yaml", "airflow", **values)
    with pytest.raises(ConfigError, match=message):
        airflow_policy(project)


def test_the_dags_task_defaults_are_the_configured_retries(project):
    from loanrisk.airflow.dag_defaults import DAG_SETTINGS, dag_settings

    edit(project, "pipeline.yaml", "airflow", retries=4, retry_delay_minutes=2)
    edit(project, "pipeline.yaml", "airflow", retry_exponential_backoff=False)
    edit(project, "pipeline.yaml", "airflow", max_retry_delay_minutes=20)
    args = dag_settings(airflow_policy(project))["default_args"]
    assert args["retries"] == 4
    assert args["retry_delay"] == dt.timedelta(minutes=2)
    assert args["retry_exponential_backoff"] is False
    assert args["max_retry_delay"] == dt.timedelta(minutes=20)
    # The DAG files' settings are those of the shipped config.
    shipped = airflow_policy()
    assert DAG_SETTINGS["default_args"]["retries"] == shipped.retries
    assert DAG_SETTINGS["default_args"]["max_retry_delay"] == dt.timedelta(
        minutes=shipped.max_retry_delay_minutes
    )


@pytest.mark.parametrize("value", [0, 65, "two"])
def test_a_bad_gx_worker_count_is_refused_naming_its_key(project, tmp_path, value):
    edit(project, "execution.yaml", None, gx_workers=value)
    with pytest.raises(ConfigError, match=r"execution\.yaml: .*gx_workers: "):
        load_settings(project, tmp_path / "data")


@pytest.mark.slow
def test_the_gx_validation_runs_with_the_configured_worker_count(project, tmp_path, monkeypatch):
    from loanrisk.pipeline.runner import run_day
    from loanrisk.quality import gx_workers
    from loanrisk.synth import generate

    edit(project, "execution.yaml", None, gx_workers=3)
    settings = load_settings(project, tmp_path / "data")
    generate(DAY, 1, 50, 5, settings.landing_dir, project)
    asked, count = [], gx_workers.worker_count

    def spy(rows: int, groups: int, workers: int) -> int:
        asked.append(workers)
        return count(rows, groups, workers)

    monkeypatch.setattr(gx_workers, "worker_count", spy)
    assert run_day(DAY, settings)["status"] == "published"
    assert asked and set(asked) == {3}
