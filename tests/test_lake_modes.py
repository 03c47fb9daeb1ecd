"""The run lock and a rerun's kept version set their own modes (DESIGN.md §5b "Owner-only by
default"): a caller that never went through an entry point gets owner-only files and folders
whatever its umask, like every other write of ``loanrisk.lake``."""

from __future__ import annotations

import datetime as dt
import os
import stat

from loanrisk.lake.locks import run_lock
from loanrisk.lake.storage import Lake, write_bytes_atomic, write_json_atomic
from loanrisk.lake.versions import restatement

DAY = dt.date(2026, 6, 1)


def wrong_modes(root) -> dict[str, str]:
    """What under ``root`` (the root included) is not a 0600 file or a 0700 folder."""
    wrong = {}
    for path in [root, *root.rglob("*")]:
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
        table = lake.partition_file("curated", "loan_aging", DAY)
        write_bytes_atomic(b"published", table)
        with restatement(lake, DAY, "test") as version:
            write_bytes_atomic(b"restated", table)
            kept = wrong_modes(version)
    finally:
        os.umask(old)
    assert kept == {}
    assert wrong_modes(root) == {}
