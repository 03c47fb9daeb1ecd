"""One name per step: the registry (``loanrisk.pipeline.registry``) is the one table from step
name to function, and ``loanrisk step`` runs any of them as the DAG's task of that name does."""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
from conftest import outputs

from loanrisk.cli import main
from loanrisk.domain.feeds import FEEDS
from loanrisk.pipeline import runner
from loanrisk.pipeline.registry import DAILY, MONTHLY, STEPS, DayRun, step
from loanrisk.synth import generate

DAY = dt.date(2026, 4, 1)


def test_every_step_is_a_function_of_its_own_name_with_the_step_signature():
    assert len(STEPS) == len(DAILY) + len(MONTHLY)  # no name given twice
    for name, entry in STEPS.items():
        function = entry.function
        assert function.__name__ == name
        params = list(inspect.signature(function).parameters)
        assert params[:3] == ["business_date", "settings", "run"], name
        parts = {"feed": ["feed"], "shard": ["shard"], "feed_shard": ["feed", "shard"], "day": []}
        expected_part = parts[entry.per]
        assert params[3:] == expected_part, name


def test_an_unknown_step_is_a_usage_error_naming_the_steps():
    from loanrisk.errors import UsageError

    with pytest.raises(UsageError, match="unknown step 'finalise_run': one of ingest, validate"):
        step("finalise_run")


def test_run_day_runs_the_daily_steps_in_registry_order(tmp_path, config_dir, monkeypatch):
    """run_day's calls, in order, are the registry's daily steps (ingest and validate once per
    feed; no shard step unsharded), each through run_step."""
    from loanrisk.config import load_settings

    generate(DAY, 1, 40, 3, tmp_path / "data" / "landing", config_dir)
    settings = load_settings(config_dir, tmp_path / "data")
    calls, original = [], runner.run_step

    def recording(name, business_date, settings, run=None, **part):
        calls.append((name, *part.values()))
        return original(name, business_date, settings, run, **part)

    monkeypatch.setattr(runner, "run_step", recording)
    manifest = runner.run_day(DAY, settings)
    assert manifest["status"] == "published"
    expected = []
    for entry in DAILY:
        if entry.per == "feed":
            expected += [(entry.name, feed) for feed in FEEDS]
        elif entry.per == "day":
            expected.append((entry.name,))
    assert calls == expected


@pytest.mark.slow
def test_loanrisk_step_one_by_one_publishes_the_bytes_of_loanrisk_run(tmp_path, config_dir):
    """Every daily step run by ``loanrisk step NAME`` in registry order (as the DAG's tasks run
    them) publishes what ``loanrisk run`` publishes."""
    roots = {name: tmp_path / name for name in ("run", "steps")}
    for root in roots.values():
        generate(DAY, 1, 40, 3, root / "landing", config_dir)
    common = ["--date", str(DAY), "--config", str(config_dir)]
    assert main(["run", *common, "--data-root", str(roots["run"])]) == 0
    for entry in DAILY:
        parts = [["--feed", feed] for feed in FEEDS] if entry.per == "feed" else [[]]
        if entry.per in ("shard", "feed_shard"):
            parts = []  # unsharded: the combine step computes the whole book
        for part in parts:
            args = ["step", entry.name, *common, "--data-root", str(roots["steps"]), *part]
            assert main(args) == 0, entry.name
    assert outputs(roots["steps"]) == outputs(roots["run"])


def test_a_per_feed_step_without_its_feed_is_refused(tmp_path, config_dir, capsys):
    args = ["step", "ingest", "--date", str(DAY), "--config", str(config_dir)]
    assert main([*args, "--data-root", str(tmp_path)]) == 2
    assert "step ingest runs per feed: give --feed" in capsys.readouterr().err


def test_a_day_run_carries_what_the_run_was_asked_for():
    run = DayRun(accepted={"ROW_COUNT_CHANGE": "month-end migration"}, allow_gap=True)
    assert run.recomputed == () and dict(run.accepted) == {
        "ROW_COUNT_CHANGE": "month-end migration"
    }


def test_no_other_function_of_the_package_has_a_steps_name():
    """A step's name means that step only: no other function under src/loanrisk is called so
    (an inner function of the same name once meant something else at another layer)."""
    import ast
    from pathlib import Path

    import loanrisk

    package = Path(loanrisk.__file__).parent
    homes = {package / "pipeline" / "steps.py", package / "pipeline" / "month_steps.py"}
    dags = package / "project" / "dags"  # a DAG's task is its step's name on purpose
    clashes = [
        f"{path.relative_to(package)}:{node.lineno} {node.name}"
        for path in sorted(package.rglob("*.py"))
        if path not in homes and path.parent != dags
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in STEPS
    ]
    assert clashes == []
