"""Restatement's shadow and switch (DESIGN.md §5b): a rerun writes only into a shadow of the
data_root; the live version changes only by the journaled switch, which a later run's recovery
finishes if a kill interrupts it; a rerun that stops or dies before switching changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import rooted

from loanrisk.lake import versions
from loanrisk.lake.storage import Lake, lake_of, read_json, write_bytes_atomic, write_json_atomic

DAY = dt.date(2026, 6, 1)
TABLE = ("curated", "loan_aging")


def published(root) -> Lake:
    lake = Lake(root, root / "landing")
    write_json_atomic({"status": "published", "v": 1}, lake.run_manifest(DAY))
    write_bytes_atomic(b"published", lake.partition_file(*TABLE, DAY))
    write_bytes_atomic(b"old result", lake.gx_root / "results" / "r.json")
    return lake


def restate(shadow) -> None:
    """What a rerun writes: a partition and a manifest by rename, a GX store file in place."""
    lake = lake_of(shadow)
    write_bytes_atomic(b"restated", lake.partition_file(*TABLE, DAY))
    with open(lake.gx_root / "results" / "r.json", "wb") as handle:  # as GX writes its stores
        handle.write(b"new result")
    write_json_atomic({"status": "published", "v": 2}, lake.run_manifest(DAY))


def version_of(lake: Lake) -> tuple[bytes, bytes, int]:
    return (
        lake.partition_file(*TABLE, DAY).read_bytes(),
        (lake.gx_root / "results" / "r.json").read_bytes(),
        read_json(lake.run_manifest(DAY))["v"],
    )


OLD, NEW = (b"published", b"old result", 1), (b"restated", b"new result", 2)


def test_the_live_version_is_untouched_until_the_switch(tmp_path):
    lake = published(tmp_path)
    with versions.restatement(rooted(tmp_path), DAY, "test") as shadow:
        restate(shadow)
        assert version_of(lake) == OLD  # GX's in-place write hit a copy, not the live file
    assert version_of(lake) == NEW
    assert not (shadow.data_root.parent / "before").exists()


def test_a_rerun_that_stops_changes_nothing_and_keeps_its_attempt(tmp_path):
    lake = published(tmp_path)
    with pytest.raises(RuntimeError), versions.restatement(rooted(tmp_path), DAY, "t") as shadow:
        restate(shadow)
        raise RuntimeError("a gate")
    assert version_of(lake) == OLD
    version = shadow.data_root.parent
    assert version_of(Lake(version / "failed", tmp_path / "landing")) == NEW
    assert read_json(version / "journal.json")["state"] == "failed"


def test_a_rerun_killed_before_the_switch_is_set_aside_by_recovery(tmp_path):
    lake = published(tmp_path)
    version = versions.open_shadow(lake, DAY, "test")  # then the process dies
    restate(versions.shadow_settings(rooted(tmp_path), version))
    assert version_of(lake) == OLD
    assert versions.recover(lake) == []
    assert version_of(lake) == OLD
    assert read_json(version / "journal.json")["state"] == "abandoned"


@pytest.mark.parametrize("zone", ["lake", "gx", "runs"])
def test_a_switch_killed_midway_is_rolled_forward(tmp_path, monkeypatch, zone):
    lake = published(tmp_path)

    def killed(point):
        if point == f"switch_in:{zone}":
            raise KeyboardInterrupt

    monkeypatch.setattr(versions, "crash_point", killed)
    with pytest.raises(KeyboardInterrupt), versions.restatement(rooted(tmp_path), DAY, "t") as s:
        restate(s)
    monkeypatch.undo()
    version = s.data_root.parent
    assert read_json(version / "journal.json")["state"] == "switching"  # status: in doubt
    assert versions.recover(lake) == [DAY.isoformat()]  # the next run taking over the lock
    assert version_of(lake) == NEW
    assert read_json(version / "journal.json")["state"] == "done"


def test_a_rerun_killed_while_dropping_the_old_version_stays_published(tmp_path, monkeypatch):
    lake = published(tmp_path)

    def killed_midway(path, ignore_errors=False):
        real_rmtree(path / "lake")  # part of the old version gone, then the process dies
        raise KeyboardInterrupt

    real_rmtree = versions.shutil.rmtree
    monkeypatch.setattr(versions.shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt), versions.restatement(rooted(tmp_path), DAY, "t") as s:
        restate(s)
    monkeypatch.undo()
    assert versions.recover(lake) == []
    assert version_of(lake) == NEW
    assert read_json(s.data_root.parent / "journal.json")["state"] == "done"
