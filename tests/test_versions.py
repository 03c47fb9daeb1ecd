"""Restatement's kept version (DESIGN.md §5b): a rerun that finished is never put back by the
recovery of a later run, even when it died while dropping the version it kept."""

from __future__ import annotations

import datetime as dt

import pytest

from loanrisk.lake import versions
from loanrisk.lake.storage import Lake, read_json, write_bytes_atomic, write_json_atomic

DAY = dt.date(2026, 6, 1)


def test_a_rerun_killed_while_dropping_its_kept_version_stays_published(tmp_path, monkeypatch):
    lake = Lake(tmp_path, tmp_path / "landing")
    write_json_atomic({"status": "published"}, lake.run_manifest(DAY))
    table = lake.partition_file("curated", "loan_aging", DAY)
    write_bytes_atomic(b"published", table)

    def killed_midway(path, ignore_errors=False):
        real_rmtree(path / "lake")  # part of the kept version gone, then the process dies
        raise KeyboardInterrupt

    real_rmtree = versions.shutil.rmtree
    monkeypatch.setattr(versions.shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt), versions.restatement(lake, DAY, "test") as version:
        write_bytes_atomic(b"restated", table)  # the rerun succeeds
    monkeypatch.undo()

    assert versions.recover(lake) == []  # the next run taking over the lock
    assert table.read_bytes() == b"restated"
    assert read_json(version / "journal.json")["state"] == "done"
