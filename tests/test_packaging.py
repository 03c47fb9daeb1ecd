"""The package as the ecosystem installs it (issue 23, point 1): a wheel that holds the default
policy, the contracts and the DAGs; installed into its own environment and run with no
checkout: ``loanrisk init DIR``, then ``cd DIR``, ``synth`` and ``run``; the DAGs found through
the shim ``init`` writes; ``--version``; help and an example for every command and option."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import PROJECT

from loanrisk.cli.main import build_parser

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*command, str(PROJECT), "-w", str(out)], check=True, cwd=out)
    (built,) = out.glob("loanrisk-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A new environment holding the wheel (its dependencies seen from this one): its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    uv = Path(sys.executable).parent / "uv"
    install = [str(uv), "pip", "install", "--no-deps", "--python", str(venv / "bin" / "python")]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def run(bin_dir: Path, cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOANRISK_", "PYTHONPATH"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (args, done.stdout[-1500:], done.stderr[-1500:])
    return done.stdout


def test_the_wheel_ships_the_policy_the_contracts_and_the_dags(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "loanrisk/project/config/pipeline.yaml",
        "loanrisk/project/config/classification.yaml",
        "loanrisk/project/data_contracts/loan_snapshot.yaml",
        "loanrisk/project/dags/loan_daily.py",
        "loanrisk/project/dags/loan_monthly.py",
    ):
        assert shipped in names


def test_an_installed_wheel_runs_a_day_from_a_project_folder(installed, tmp_path):
    where = run(installed, tmp_path, "python", "-c", "import loanrisk; print(loanrisk.__file__)")
    assert str(PROJECT) not in where  # the wheel's copy, not this checkout
    assert run(installed, tmp_path, "loanrisk", "--version").strip() == "loanrisk 0.1.0"
    said = run(installed, tmp_path, "loanrisk", "init", "risk")
    project = tmp_path / "risk"
    assert "loanrisk run --date" in said and (project / "config" / "pipeline.yaml").is_file()
    assert "airflow pools set loanrisk_run 1" in said  # the run lock's pool, for Airflow
    synth = ["loanrisk", "synth", "--start", "2026-08-01", "--days", "2", "--loans", "150"]
    run(installed, project, *synth, "--out", "data/landing")
    run(installed, project, "loanrisk", "run", "--date", "2026-08-01")
    run(installed, project, "loanrisk", "run", "--date", "2026-08-02", "--debug")
    assert (project / "data" / "runs" / "2026-08-02" / "manifest.json").is_file()
    assert '"published"' in run(installed, project, "loanrisk", "status", "--json")
    dags = (
        "from airflow.dag_processing.dagbag import DagBag; "
        "bag = DagBag(dag_folder='dags'); print(sorted(bag.dags), bag.import_errors)"
    )
    home = {"AIRFLOW_HOME": str(tmp_path / "airflow")}
    env_run = ["env", *(f"{k}={v}" for k, v in home.items()), "python", "-c", dags]
    found = run(installed, project, *env_run).strip().splitlines()[-1]  # after Airflow's log
    assert found == "['loan_daily', 'loan_monthly'] {}"


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_and_option_has_help_and_an_example():
    commands = _commands(build_parser())
    for name, command in commands.items():
        examples = command.epilog or ""
        assert examples.startswith("examples:") and f"loanrisk {name}" in examples, name
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            takes_value = action.nargs != 0 and not isinstance(action, argparse._StoreTrueAction)
            if takes_value and action.option_strings and action.choices is None:
                assert "e.g." in action.help, (name, action.dest)


def test_debug_is_taken_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--debug", "status"]).debug is True
    assert parser.parse_args(["status", "--debug"]).debug is True
    assert parser.parse_args(["status"]).debug is False
