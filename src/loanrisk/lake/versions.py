"""Restatement safety (DESIGN.md §5b): a rerun of days already stored runs in a shadow of the
data_root and is switched in only when the whole chain it recomputes succeeds.

The shadow, ``.versions/<id>/next``, holds every zone of the published version: hard links for
the pipeline's own files (every write of the pipeline is a rename to a new inode, so the live
files never change under the rerun) and copies where another program rewrites files in place
(GX's store and Data Docs, appended ``.jsonl``). The rerun writes there only; the live data_root
stays wholly the published version while it runs, and after it stops or is killed.

Switching in is a journaled swap (state ``switching``): each zone is renamed aside into
``.versions/<id>/before`` and the shadow's zone renamed into its place, ``runs`` last. A run
killed during those renames leaves its days *in doubt* (``loanrisk status``) until the next run
that takes over its lock rolls the switch forward (``recover``): each day ends wholly old or
wholly new. A rerun that stops keeps its attempt in ``.versions/<id>/failed`` for diagnosis.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loanrisk.errors import RestatementSetAsideError, one_line
from loanrisk.lake.faults import crash_point
from loanrisk.lake.modes import make_dirs
from loanrisk.lake.storage import Lake, lake_of, read_json, write_json_atomic

#: What a day's published version spans, in the order a switch puts them in: the run
#: manifests, which say a day is published, come last.
ZONES = (
    "lake",
    "state",
    "gx",
    "extracts",
    "reports",
    "warehouse.duckdb",
    "warehouse.views.sha256",
    "runs",
)
#: Written in place by another program (GX's stores and Data Docs site): copied, never linked.
COPIED = ("gx", "reports/validation")
#: What a rerun appends to or reads beside the zones: the shadow points at the live folder.
SHARED = ("logs", "models")


def _copied(relative: Path, name: str) -> bool:
    text = relative.as_posix()
    return name.endswith(".jsonl") or any(text == c or text.startswith(f"{c}/") for c in COPIED)


def _shadow_tree(source: Path, target: Path, zone: str) -> None:
    """``target`` as hard links to ``source``'s files, or copies where they are rewritten in
    place (``COPIED``)."""
    if source.is_file():
        make_dirs(target.parent)
        (shutil.copy2 if _copied(Path(zone), zone) else os.link)(source, target)
        return
    for folder, _, files in os.walk(source):
        relative = Path(zone) / Path(folder).relative_to(source)
        here = make_dirs(target / Path(folder).relative_to(source))
        for name in files:
            copy = shutil.copy2 if _copied(relative, name) else os.link
            copy(Path(folder) / name, here / name)


def _journal(version: Path) -> Path:
    return version / "journal.json"


def _set_state(version: Path, state: str, **facts: str) -> None:
    journal = read_json(_journal(version)) | {"state": state, **facts}
    write_json_atomic(journal, _journal(version))


def open_shadow(lake: Lake, first_day: dt.date, purpose: str, owner: str = "") -> Path:
    """Make ``.versions/<id>/next``, a shadow of the published version, and its journal."""
    started = dt.datetime.now(dt.UTC)
    version = lake.versions_dir / f"{first_day}-{started:%Y%m%dT%H%M%S%f}"
    shadow = version / "next"
    for zone in ZONES:
        if lake.zone(zone).exists():
            _shadow_tree(lake.zone(zone), shadow / zone, zone)
    for name in SHARED:
        make_dirs(lake.zone(name))
        (shadow / name).symlink_to(lake.zone(name), target_is_directory=True)
    journal = {"first_day": first_day.isoformat(), "purpose": purpose, "pid": os.getpid()}
    journal |= {"owner": owner, "state": "running", "started": started.isoformat()}
    write_json_atomic(journal, _journal(version))
    return version


def switch_in(lake: Lake, version: Path) -> None:
    """Put the shadow's zones in place of the live ones (journaled: ``recover`` finishes it)."""
    _set_state(version, "switching")
    _roll_forward(lake, version)
    _set_state(version, "done")
    shutil.rmtree(version / "before", ignore_errors=True)
    shutil.rmtree(version / "next", ignore_errors=True)


def _roll_forward(lake: Lake, version: Path) -> None:
    """Each zone the shadow still holds: the live one aside (unless already), the shadow's in."""
    make_dirs(version / "before")
    for zone in ZONES:
        new, old, live = version / "next" / zone, version / "before" / zone, lake.zone(zone)
        if not new.exists():
            continue  # switched already, or a zone the rerun never had
        if live.exists() and not old.exists():
            live.rename(old)
        crash_point(f"switch_in:{zone}")
        new.rename(live)


def set_aside(version: Path, state: str, error: str) -> None:
    """A rerun that stopped or died before switching in: its attempt kept for diagnosis."""
    shadow = version / "next"
    for name in SHARED:
        if (shadow / name).is_symlink():
            (shadow / name).unlink()
    if shadow.exists():
        shadow.rename(version / "failed")
    _set_state(version, state, error=error[:500])


def shadow_settings(settings, version: Path | None):
    """``settings`` pointed at the shadow of ``version`` (the landing folder stays the live one)."""
    if version is None:
        return settings
    return dataclasses.replace(settings, data_root=version / "next")


@contextmanager
def restatement(settings, first_day: dt.date, purpose: str) -> Iterator:
    """Run days from ``first_day`` in a shadow when they rerun stored days (``restates``);
    switched in only if it all succeeds. Yields the settings the run must use: the shadow's,
    or ``settings`` themselves for days never stored (nothing to keep)."""
    lake = lake_of(settings)
    if not restates(lake, first_day):
        yield settings
        return
    version = open_shadow(lake, first_day, purpose)
    try:
        yield shadow_settings(settings, version)
    except BaseException as exc:
        set_aside(version, "failed", one_line(exc))
        raise
    switch_in(lake, version)


def restates(lake: Lake, day: dt.date) -> bool:
    """A run of ``day`` reruns stored days: ``day`` or a later day has a manifest."""
    found = lake.runs_dir.glob("*/manifest.json") if lake.runs_dir.is_dir() else ()
    return any(dt.date.fromisoformat(path.parent.name) >= day for path in found)


def airflow_shadow(lake: Lake, day: dt.date, owner: str, opens: bool) -> Path | None:
    """The shadow a task of Airflow run ``owner`` works in when that run reruns stored days
    (call with the run lock held when ``opens``): the run's own while it is open; a new one
    when ``opens`` (the day's first step) and the day ``restates``; None for a plain run, or
    once the run's shadow is switched in (the tasks after ``finalize_run``). Another run's
    shadow still open is set aside: it never switched in, and this run supersedes it."""
    mine = [
        (version, journal) for version, journal in journals(lake) if journal.get("owner") == owner
    ]
    if mine:
        version, journal = mine[-1]
        if journal["state"] == "running":
            return version
        if journal["state"] == "done":
            return None
        raise RestatementSetAsideError(owner, version.name, journal["state"])
    if not (opens and restates(lake, day)):
        return None
    for version, journal in journals(lake):
        if journal["state"] == "running":
            set_aside(version, "abandoned", f"superseded by Airflow run {owner}")
    return open_shadow(lake, day, f"airflow rerun of {day}", owner)


def journals(lake: Lake) -> list[tuple[Path, dict]]:
    """Every kept version's journal, oldest first."""
    if not lake.versions_dir.is_dir():
        return []
    found = sorted(lake.versions_dir.glob("*/journal.json"))
    return [(path.parent, json.loads(path.read_text(encoding="utf-8"))) for path in found]


def recover(lake: Lake) -> list[str]:
    """Finish what reruns that died left (call with the run lock taken over from the dead run):
    a switch under way is rolled forward; a rerun that died before switching in is set aside
    (the live version never changed). Returns the first days of the switches finished."""
    finished = []
    for version, journal in journals(lake):
        if journal.get("state") == "switching":
            _roll_forward(lake, version)
            _set_state(version, "done")
            shutil.rmtree(version / "before", ignore_errors=True)
            shutil.rmtree(version / "next", ignore_errors=True)
            finished.append(journal["first_day"])
        elif journal.get("state") == "running":
            set_aside(version, "abandoned", "the run died before switching in; nothing changed")
        elif journal.get("state") == "done":  # died while dropping what the switch left
            shutil.rmtree(version / "before", ignore_errors=True)
            shutil.rmtree(version / "next", ignore_errors=True)
    return finished
