"""``loanrisk init DIR``: a project folder for an installed loanrisk — ``DIR/config`` (an
editable copy of the policy shipped in the package), ``DIR/data`` as data_root (its landing
folder made), and ``DIR/dags/loanrisk_dags.py``, the Airflow DAG folder shim that loads the
package's DAGs."""

from __future__ import annotations

from pathlib import Path

from loanrisk.config import refuse_system_folder, shipped_config_dir
from loanrisk.errors import UsageError
from loanrisk.lake.modes import make_dirs
from loanrisk.lake.storage import write_bytes_atomic
from loanrisk.pipeline.orchestration import RUN_POOL

#: The shim Airflow parses in its DAG folder (its text names "airflow" and "dag", which
#: Airflow's safe mode looks for before it imports a file).
DAG_SHIM = '''"""Airflow dag folder shim: the loanrisk DAGs of the installed package (written by
`loanrisk init`). Point Airflow's dags_folder here, or copy this file into it."""

from loanrisk.project.dags.loan_daily import DAG as loan_daily  # noqa: F401
from loanrisk.project.dags.loan_monthly import DAG as loan_monthly  # noqa: F401
'''


def init_project(folder: Path, force: bool = False) -> str:
    """Write the project folder; returns what to do next."""
    folder = folder.expanduser().resolve()
    refuse_system_folder(folder)
    config, shipped = folder / "config", shipped_config_dir()
    policies = sorted(shipped.glob("*.yaml"))
    clash = [p.name for p in policies if (config / p.name).exists()]
    if clash and not force:
        raise UsageError(f"{config / clash[0]} exists: keep it, or rerun with --force")
    for policy in policies:
        write_bytes_atomic(policy.read_bytes(), config / policy.name, mode=0o644)
    make_dirs(folder / "data" / "landing")
    write_bytes_atomic(DAG_SHIM.encode(), folder / "dags" / "loanrisk_dags.py", mode=0o644)
    return "\n".join(
        [
            f"wrote {len(policies)} policy files to {config} (edit them: they are your policy)",
            f"data_root {folder / 'data'}; Airflow DAG folder shim {folder / 'dags'}",
            "next:",
            f"  cd {folder}",
            "  loanrisk synth --start 2026-08-01 --days 3 --loans 1000 --out data/landing",
            "  loanrisk run --date 2026-08-01",
            "  loanrisk status",
            f"  export AIRFLOW__CORE__DAGS_FOLDER={folder / 'dags'}  # for Airflow, and once:",
            f'  airflow pools set {RUN_POOL} 1 "loanrisk run lock: one writing task at a time"',
        ]
    )
