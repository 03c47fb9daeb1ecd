"""Inputs known by their content: the sha256 of files a step reads, hashed once per version.

What a carried table was computed from is recorded as its inputs' sha256, so a day rewritten
with the same bytes leaves the tables computed from it good. Hashing every input of a 90-day
window each day would cost more than carrying saves, so each hash is kept in
``Lake.fingerprint_cache`` with the file's size, modification time and inode, and a file is
hashed again only when one of those changed: every partition is written by an atomic replace,
which gives a rewritten file a new inode. The cache holds the files asked for last and the
newest others, ``CACHE_FILES`` in all: a day's shard tasks and combine steps ask for the same
inputs (``shards.input_fingerprints``), each step its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from loanrisk.lake.partitions import folder_files
from loanrisk.lake.storage import Lake, files_digest, sha256_file, write_json_atomic

#: Files the cache remembers: a day's inputs of every step (a 30M-loan day's partitions are
#: ~30 files a table) and a window of carried days.
CACHE_FILES = 4096


def file_stamp(path: Path) -> list[int] | None:
    """[size, modification time (ns), inode] of a file, None when absent: a file rewritten by an
    atomic replace has another inode."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _cached(lake: Lake) -> dict[str, list]:
    try:
        return json.loads(lake.fingerprint_cache.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}  # no cache, or one cut short: hash again


def content_ids(lake: Lake, paths: Iterable[Path]) -> dict[Path, str | None]:
    """sha256 of each of ``paths`` (None: absent)."""
    cached, asked, found = _cached(lake), {}, {}
    for path in paths:
        name, stamp = lake.relative(path), file_stamp(path)
        if stamp is None:
            found[path] = None
            continue
        entry = cached.get(name)
        digest = entry[1] if entry and entry[0] == stamp else sha256_file(path)
        if file_stamp(path) == stamp:  # not replaced while it was hashed
            asked[name] = [stamp, digest]
        found[path] = digest
    kept = _kept(cached, asked)
    if kept != cached:
        write_json_atomic(kept, lake.fingerprint_cache)
    return found


def _kept(cached: dict[str, list], asked: dict[str, list]) -> dict[str, list]:
    """The entries kept: those just asked for, last, after the newest others, ``CACHE_FILES``
    in all (a day's steps ask for different inputs one after another; a stale entry is never
    used, its stamp no longer matching its file)."""
    others = [(name, entry) for name, entry in cached.items() if name not in asked]
    room = max(CACHE_FILES - len(asked), 0)
    return dict(others[len(others) - room :] if room else []) | asked


def partition_ids(lake: Lake, folders: Iterable[Path]) -> dict[Path, str | None]:
    """The content id of each partition folder (``storage.files_digest`` of its files' cached
    sha256; None: not written)."""
    files = {folder: folder_files(folder) for folder in folders}
    ids = content_ids(lake, [f for listed in files.values() for f in listed])
    return {
        folder: files_digest([(f.name, ids[f]) for f in listed]) for folder, listed in files.items()
    }
