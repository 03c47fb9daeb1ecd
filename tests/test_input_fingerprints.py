"""The sha256 of a shard step's inputs is taken once per file version: every shard task and
the combine of a day's step read the same files (a 10M-loan day hashed its inputs once per
task, ~14 CPU-s), and the steps of a day ask for different sets one after another."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from loanrisk.lake import fingerprints
from loanrisk.lake.shards import input_fingerprints
from loanrisk.lake.storage import Lake


@pytest.fixture
def counted(monkeypatch):
    hashed: list[str] = []
    original = fingerprints.sha256_file

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return original(path)

    monkeypatch.setattr(fingerprints, "sha256_file", counting)
    return hashed


def _files(root: Path, names: list[str]) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_bytes(name.encode() * 100)
    return [root / name for name in names]


def test_a_steps_inputs_are_hashed_once_whatever_was_asked_in_between(tmp_path, counted):
    lake = Lake(tmp_path, tmp_path / "landing")
    aging = _files(tmp_path / "lake" / "raw", ["a.parquet", "b.parquet"])
    scoring = _files(tmp_path / "lake" / "curated", ["c.parquet"])
    first = input_fingerprints(lake, aging)
    input_fingerprints(lake, scoring)
    again = input_fingerprints(lake, aging)
    assert again == first
    assert sorted(counted) == ["a.parquet", "b.parquet", "c.parquet"]
    assert first["lake/raw/a.parquet"] == hashlib.sha256(b"a.parquet" * 100).hexdigest()


def test_a_file_replaced_with_other_bytes_of_the_same_size_is_hashed_again(tmp_path, counted):
    lake = Lake(tmp_path, tmp_path / "landing")
    (path,) = _files(tmp_path / "lake" / "raw", ["a.parquet"])
    before = input_fingerprints(lake, [path])
    staged = path.with_name("new")
    staged.write_bytes(b"z" * path.stat().st_size)
    os.replace(staged, path)  # as every partition is written: a new inode
    after = input_fingerprints(lake, [path])
    assert after != before and counted == ["a.parquet", "a.parquet"]
    assert input_fingerprints(lake, [tmp_path / "absent"]) == {"absent": None}
