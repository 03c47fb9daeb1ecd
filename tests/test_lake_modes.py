"""The run lock and a rerun's kept version set their own modes (DESIGN.md §5b "Owner-only by
default"): a caller that never went through an entry point gets owner-only files and folders
whatever its umask, like every other write of ``loanrisk.lake``."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

from conftest import rooted, umask

from loanrisk.lake.locks import run_lock
from loanrisk.lake.modes import GROUP_READ_MODES, OWNER_ONLY_MODES
from loanrisk.lake.storage import Lake, lake_of, write_bytes_atomic, write_json_atomic
from loanrisk.lake.versions import restatement

DAY = dt.date(2026, 6, 1)
TABLE = ("curated", "loan_aging")


def wrong_modes(root) -> dict[str, str]:
    """What under ``root`` (the root included) is not a 0600 file or a 0700 folder."""
    wrong = {}
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue  # a link's own mode is never used (a rerun's shadow links logs/)
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode != (0o700 if path.is_dir() else 0o600):
            wrong[path.relative_to(root).as_posix()] = oct(mode)
    return wrong


def test_the_run_lock_and_a_kept_version_are_owner_only_under_umask_000(tmp_path):
    root = tmp_path / "data"
    lake = Lake(root, root / "landing")
    old = os.umask(0o000)
    try:
        with run_lock(lake, DAY):
            pass
        write_json_atomic({"status": "published"}, lake.run_manifest(DAY))
        table = lake.partition_file(*TABLE, DAY)
        write_bytes_atomic(b"published", table)
        with restatement(rooted(root), DAY, "test") as shadow:
            write_bytes_atomic(b"restated", lake_of(shadow).partition_file(*TABLE, DAY))
            kept = wrong_modes(shadow.data_root.parent)
    finally:
        os.umask(old)
    assert kept == {}
    assert wrong_modes(root) == {}


# --------------------------------------------------------------------------- an older tree


def mode_of(path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def old_tree(tmp_path, loose: int = 0o666):
    """A data_root as an older version left it (every file ``loose``, every folder ``loose`` |
    0o111), with a landing file, a symlink to a file outside, a file already tighter than the
    policy and a setgid folder; returns (data_root, outside file)."""
    root = tmp_path / "data"
    files = [
        "landing/loans_2026-06-01.csv",
        "lake/raw/loan_snapshot/snapshot_date=2026-06-01/part-0.parquet",
        "extracts/regulatory/five_category/2026-06-01/five_category.csv",
        "runs/2026-06-01/manifest.json",
        "warehouse.duckdb",
        "reports/2026-06-01/risk_report.html",
        "lake/curated/loan_aging/snapshot_date=2026-06-01/part-0.parquet",
    ]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the pipeline's")
    (root / "lake" / "link.parquet").symlink_to(outside)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "theirs.csv").write_bytes(b"y")
    (root / "lake" / "linked_folder").symlink_to(tmp_path / "elsewhere")
    (root / "runs" / "read_only.json").write_bytes(b"{}")
    (root / "shared").mkdir()
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, loose | 0o111 if path.is_dir() else loose)
    os.chmod(outside, 0o666)
    os.chmod(tmp_path / "elsewhere", 0o777)
    os.chmod(tmp_path / "elsewhere" / "theirs.csv", 0o666)
    os.chmod(root / "runs" / "read_only.json", 0o400)  # tighter: never loosened
    os.chmod(root / "shared", 0o2775)  # setgid: the group its files inherit stays
    return root, outside


def test_an_older_tree_is_tightened_never_loosened_nor_followed(tmp_path):
    from loanrisk.lake.modes import tighten_tree

    root, outside = old_tree(tmp_path)
    with umask(0o000):
        found = tighten_tree(root, root / "landing", OWNER_ONLY_MODES)
    assert mode_of(root / "landing") == 0o777
    assert mode_of(root / "landing" / "loans_2026-06-01.csv") == 0o666  # the core's
    assert mode_of(outside) == 0o666  # behind a symlink: not followed
    assert mode_of(tmp_path / "elsewhere") == 0o777  # a symlinked folder: not entered
    assert mode_of(tmp_path / "elsewhere" / "theirs.csv") == 0o666
    assert mode_of(root / "runs" / "read_only.json") == 0o400
    assert mode_of(root / "shared") == 0o2700
    rest = {
        name: mode
        for name, mode in wrong_modes(root).items()
        if not name.startswith(("landing", "lake/link", "runs/read_only", "shared"))
    }
    assert rest == {}
    assert found == {"tightened": 23, "not_owned": 0}  # 17 folders (root, shared), 6 files
    assert tighten_tree(root, root / "landing", OWNER_ONLY_MODES)["tightened"] == 0


def test_a_group_read_policy_tightens_to_group_read_and_extracts_to_owner_only(tmp_path):
    from loanrisk.lake.modes import tighten_tree

    root, _ = old_tree(tmp_path, loose=0o644)
    tighten_tree(root, root / "landing", GROUP_READ_MODES)
    assert mode_of(root) == 0o750 and mode_of(root / "lake" / "raw") == 0o750
    assert mode_of(root / "warehouse.duckdb") == 0o640
    extract = root / "extracts" / "regulatory" / "five_category" / "2026-06-01"
    assert mode_of(extract) == 0o750
    assert mode_of(extract / "five_category.csv") == 0o600  # extracts stay owner-only
    assert mode_of(root / "landing" / "loans_2026-06-01.csv") == 0o644


def test_a_run_tightens_an_older_data_root_once_per_policy(tmp_path, settings):
    import dataclasses

    from loanrisk.lake.modes import MODES_MARKER, owner_only
    from loanrisk.lake.storage import enter_data_root

    root, _ = old_tree(tmp_path)
    assert settings.data_root == root
    raw = root / "lake" / "raw"
    with owner_only():
        enter_data_root(settings, landing=False)  # status and friends: no walk
        assert mode_of(raw) == 0o777
        enter_data_root(settings)
        assert mode_of(raw) == 0o700
        marker = json.loads((root / "state" / MODES_MARKER).read_text(encoding="utf-8"))
        assert marker["policy"] == {"file": "0o600", "folder": "0o700", "extracts_file": "0o600"}
        os.chmod(raw, 0o755)
        enter_data_root(settings)  # the same policy: the walk is skipped
        assert mode_of(raw) == 0o755
        execution = settings.execution.model_copy(update={"file_group_read": True})
        enter_data_root(dataclasses.replace(settings, execution=execution))
        assert mode_of(raw) == 0o750  # a new policy: walked again
        assert mode_of(root / "state") == 0o700  # owner-only before: never loosened
    assert mode_of(root / "landing" / "loans_2026-06-01.csv") == 0o666
