"""Crash injection for the crash-safety tests, and sweeping what crashes leave (DESIGN.md §5b).

``LOANRISK_CRASH_AT=<point>`` makes the process kill itself with SIGKILL when it reaches that
point: no ``finally``, no ``atexit``, no flush -- what a power cut or the OOM killer does. Unset
(the normal case) a point costs one dictionary lookup.

Points (``<name>`` is the exact value to set):

- ``write_partition:<table>`` -- a partition's Parquet is in scratch, not yet renamed into place;
- ``write_bytes_atomic:<file name>`` -- a file's temporary sibling is written, not yet renamed
  (stage reports ``<stage>.json``, ``manifest.json``, extract CSVs ...);
- ``refresh_warehouse`` -- the new warehouse.duckdb is built, not yet renamed into place;
- ``stage_report:<stage>`` -- the stage finished and its report is written (a stage boundary);
- ``after:<stage>`` -- the same boundary, checked by ``run_day`` between stages.

A point named ``kind:detail`` also fires for ``LOANRISK_CRASH_AT=kind``; ``<point>@N`` fires the
N-th time the point is reached (e.g. ``refresh_warehouse@2``: the refresh after the manifest).

The rest sweeps what a crash leaves: scratch folders and temporary siblings are named
``<prefix><pid>-<hex>`` so a later run deletes those whose process is gone.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import time
import uuid
from pathlib import Path

CRASH_ENV = "LOANRISK_CRASH_AT"

#: Leftovers without a pid older than this process are a crashed run's (see ``_is_stale``).
_STARTED = time.time()

_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process if ``LOANRISK_CRASH_AT`` names this point (or its kind); with
    ``<point>@N`` only the N-th time the point is reached."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name and point != name.split(":", 1)[0]:
        return
    _hits[wanted] = _hits.get(wanted, 0) + 1
    if _hits[wanted] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _owner_pid(name: str, prefix: str) -> int | None:
    """The pid in a scratch name ``<prefix><pid>-<hex>...`` (None when it has none)."""
    head = name[len(prefix) :].split("-", 1)[0].split(".", 1)[0]
    return int(head) if name.startswith(prefix) and head.isdigit() else None


def _is_stale(entry: Path, prefix: str) -> bool:
    """Scratch left by a process that is gone (SIGKILL, OOM): its pid is not running, or it
    has no pid (an older layout) and predates this process."""
    pid = _owner_pid(entry.name, prefix)
    if pid is None:
        try:
            return entry.stat().st_mtime < _STARTED
        except FileNotFoundError:
            return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep_scratch(scratch: Path) -> list[str]:
    """Delete scratch entries (``new-*``, ``old-*``) of dead processes; return their names."""
    if not scratch.is_dir():
        return []
    swept = []
    for entry in scratch.iterdir():
        prefix = entry.name[:4]
        if prefix in ("new-", "old-") and _is_stale(entry, prefix):
            shutil.rmtree(entry, ignore_errors=True)
            swept.append(entry.name)
    return swept


def sweep_siblings(path: Path) -> None:
    """Delete temporary siblings ``.<name>.<pid>-<hex>.tmp*`` of ``path`` left by dead
    processes (a crash between writing and renaming)."""
    prefix = f".{path.name}."
    if path.parent.is_dir():
        for entry in path.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
            if _is_stale(entry, prefix):
                entry.unlink(missing_ok=True)


def scratch_name(prefix: str) -> str:
    """``<prefix><pid>-<hex>``: unique, and tells a sweep whose it is."""
    return f"{prefix}{os.getpid()}-{uuid.uuid4().hex}"
