"""Restatement safety (DESIGN.md §5b): a rerun of days already stored works on the live data_root
with the published version of every zone kept aside, as hard links, in ``.versions/<id>/before``.

Every write of the pipeline replaces a file or a partition folder by a rename (a new inode), so
the links keep the published bytes whatever the rerun writes. When the rerun succeeds the kept
version is dropped; when it stops (a gate, an error) every zone is put back as it was and what
the failed attempt wrote is kept in ``.versions/<id>/failed`` for diagnosis. A rerun killed
midway leaves its journal ``running``: ``loanrisk status`` names its days in doubt, and the next
run that takes over the dead run's lock puts them back first (``recover``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loanrisk.errors import one_line
from loanrisk.lake.modes import make_dirs
from loanrisk.lake.storage import Lake, read_json, write_json_atomic

#: What a day's published version spans (everything a reader of the day sees).
ZONES = (
    "lake",
    "extracts",
    "reports",
    "runs",
    "state",
    "warehouse.duckdb",
    "warehouse.views.sha256",
)


def _link_tree(source: Path, target: Path) -> None:
    """``target`` as hard links to ``source``'s files (appended logs are copied: an append
    would change both)."""
    if source.is_file():
        make_dirs(target.parent)
        os.link(source, target)
        return
    for folder, _, files in os.walk(source):
        here = target / Path(folder).relative_to(source)
        make_dirs(here)
        for name in files:
            copy = shutil.copy2 if name.endswith(".jsonl") else os.link
            copy(Path(folder) / name, here / name)


def _journal(version: Path) -> Path:
    return version / "journal.json"


def _put_back(lake: Lake, version: Path) -> None:
    """Every zone as kept in ``version/before``; the attempt's zones into ``version/failed``."""
    failed = version / "failed"
    for zone in ZONES:
        live, kept = lake.zone(zone), version / "before" / zone
        if live.exists() and not (failed / zone).exists():
            make_dirs(failed)
            live.rename(failed / zone)
        if kept.exists():
            kept.rename(live)


def _finish(version: Path, state: str, **facts: str) -> None:
    journal = read_json(_journal(version)) | {"state": state, **facts}
    write_json_atomic(journal, _journal(version))


@contextmanager
def restatement(lake: Lake, first_day: dt.date, purpose: str) -> Iterator[Path | None]:
    """Run a rerun from ``first_day`` so that it publishes only if it all succeeds."""
    if not (lake.runs_dir.is_dir() and any(lake.runs_dir.glob("*/manifest.json"))):
        yield None  # nothing published yet: nothing to keep
        return
    started = dt.datetime.now(dt.UTC)
    version = lake.versions_dir / f"{first_day}-{started:%Y%m%dT%H%M%S%f}"
    for zone in ZONES:
        if (lake.zone(zone)).exists():
            _link_tree(lake.zone(zone), version / "before" / zone)
    journal = {"first_day": first_day.isoformat(), "purpose": purpose, "pid": os.getpid()}
    write_json_atomic(
        journal | {"state": "running", "started": started.isoformat()}, _journal(version)
    )
    try:
        yield version
    except BaseException as exc:
        _put_back(lake, version)
        _finish(version, "failed", error=one_line(exc)[:500])
        raise
    # Done first: a run that dies while the kept version goes must not have it put back.
    _finish(version, "done")
    shutil.rmtree(version / "before", ignore_errors=True)


def journals(lake: Lake) -> list[tuple[Path, dict]]:
    """Every kept version's journal, oldest first."""
    if not lake.versions_dir.is_dir():
        return []
    found = sorted(lake.versions_dir.glob("*/journal.json"))
    return [(path.parent, json.loads(path.read_text(encoding="utf-8"))) for path in found]


def recover(lake: Lake) -> list[str]:
    """Put back the days of reruns that died midway (journal still ``running``; call with the
    run lock taken over from the dead run). Returns the first days put back."""
    recovered = []
    for version, journal in journals(lake):
        if journal.get("state") == "running":
            _put_back(lake, version)
            _finish(version, "abandoned", error="the run died; its days were put back")
            recovered.append(journal["first_day"])
    return recovered
