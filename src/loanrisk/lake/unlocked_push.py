"""What a task that runs without the run lock pushes to an ``s3://`` data_root (DESIGN.md §8).

The shard tasks (``Step.locked`` False, run per shard) run side by side on any number of
workers, so they take no store lock: each pushes only files no other task writes, and only
adds. From the files its working copy changed or deleted since the pull (``ObjectRoot.changes``):

- **pushed**: its own shard's files, i.e. under ``lake/shards/`` or ``state/shards/`` with its
  shard's label (``shard=k-of-K`` as a folder, or ``shard=k-of-K.json`` /
  ``.inputs.json``), and its GX validation results (run folder ``<feed> <D> shard=k-of-K``
  under ``gx/gx/uncommitted/validations/``). Each key is written by that one task only, so
  its own files it deleted are deleted from the store too (a rewritten part of fewer files:
  a stale file left beside it would be read as part of it).
- **left behind** (not pushed, no error): the day's step log ``logs/D.jsonl`` (one file every
  task appends to: pushing it would drop the other tasks' lines; the line is in the task's
  own log too), GX's context files (``great_expectations.yml``, suites, definitions: rebuilt
  from the same rules by every task that validates, and holding the working copy's absolute
  path), GX's archive moves, the ``gx.lock`` file and the local fingerprint cache.
- **refused**: anything else, a deletion included (a manifest, a published partition, the
  warehouse, another shard's part): ``UnlockedWriteError`` before anything is uploaded.

A rerun's shadow (``.versions/<id>/next/...``) is judged by the path inside it. A task that only
reads (``orchestration.shard_numbers``) pushes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from loanrisk.errors import UnlockedWriteError
from loanrisk.lake.object_store import Figures, ObjectRoot

log = logging.getLogger(__name__)

_SHADOW = re.compile(r"^\.versions/[^/]+/next/")
_SHARD_ZONES = ("lake/shards/", "state/shards/")
_GX_RESULTS = "gx/gx/uncommitted/validations/"
#: Written by every task in place, or local only: never pushed by an unlocked task.
_LEFT = ("logs/", "gx/", "gx.lock", "state/sha256_cache.json")


@dataclass(frozen=True)
class UnlockedWrites:
    """The push rule of one unlocked task: ``shard`` is its shard number (None: it only
    reads, and pushes nothing)."""

    task: str
    shard: int | None

    def verdict(self, relative: str, deleted: bool = False) -> str:
        """ "push", "delete", "leave" or "refuse" for one changed (or ``deleted``) file."""
        inside = _SHADOW.sub("", relative)
        if self.shard is not None and self._own(inside):
            return "delete" if deleted else "push"
        if self.shard is None or inside.startswith(_LEFT):
            return "leave"
        return "refuse"

    def _own(self, inside: str) -> bool:
        label = re.compile(rf"(?:^|[/ ])shard={self.shard}-of-\d+(?:/|\.json$|\.inputs\.json$)")
        in_zone = inside.startswith((*_SHARD_ZONES, _GX_RESULTS))
        return in_zone and label.search(inside) is not None


def push_unlocked(root: ObjectRoot, local: Path, writes: UnlockedWrites) -> Figures:
    """Push the task's own files of ``local/data`` (module docstring); ``UnlockedWriteError``,
    with nothing uploaded, when it changed or deleted any other file."""
    changed, gone = root.changes(local)
    verdicts = [(rel, writes.verdict(rel)) for rel in changed]
    verdicts += [(rel, writes.verdict(rel, deleted=True)) for rel in gone]
    refused = [rel for rel, verdict in verdicts if verdict == "refuse"]
    if refused:
        raise UnlockedWriteError(writes.task, refused)
    left = [rel for rel, verdict in verdicts if verdict == "leave"]
    if left:
        log.info("%s: %d local files not pushed (no run lock): %s", writes.task, len(left), left)
    pushed = [rel for rel, verdict in verdicts if verdict == "push"]
    return root.push_files(local, pushed, [rel for rel, verdict in verdicts if verdict == "delete"])
