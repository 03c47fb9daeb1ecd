"""``loanrisk status``: every business day of a data_root and where it stands.

A day is *published*, *gated* (stopped by a batch gate: fix the file or accept the gate),
*failed* (stopped for another reason), *not run* (its loans file has landed, nothing ran yet) or
*missing* (a gap inside the processed range with no loans file either).
"""

from __future__ import annotations

import datetime as dt
import re

from loanrisk.errors import ACCEPTABLE_GATES
from loanrisk.lake.storage import Lake, read_json
from loanrisk.quality.gates import FILE_GATES

_LANDED = re.compile(r"^loans_(\d{4}-\d{2}-\d{2})\.(csv|parquet)$")
GATES = (*FILE_GATES, *ACCEPTABLE_GATES)


def _landed_days(lake: Lake) -> set[dt.date]:
    if not lake.landing_dir.is_dir():
        return set()
    found = (_LANDED.match(p.name) for p in lake.landing_dir.iterdir())
    return {dt.date.fromisoformat(m.group(1)) for m in found if m}


def _run_days(lake: Lake) -> dict[dt.date, dict]:
    if not lake.runs_dir.is_dir():
        return {}
    days = {}
    for folder in lake.runs_dir.iterdir():
        manifest = folder / "manifest.json"
        if manifest.exists():
            days[dt.date.fromisoformat(folder.name)] = read_json(manifest)
    return days


def _classify(manifest: dict) -> tuple[str, str]:
    if manifest.get("status") == "published":
        accepted = manifest.get("accepted_gates") or {}
        gap = (manifest.get("history") or {}).get("gap_allowed")
        notes = [f"accepted {g}: {r}" for g, r in sorted(accepted.items())]
        notes += ["history gap allowed"] if gap else []
        rows_out, quarantined = manifest.get("rows_out", 0), manifest.get("rows_quarantined", 0)
        rows = f"{rows_out:,} loans, {quarantined:,} quarantined"
        return "published", "; ".join([rows, *notes])
    failure = manifest.get("failure") or {}
    kind = "gated" if failure.get("gate") in GATES else "failed"
    return kind, failure.get("message") or "no reason recorded"


def day_statuses(lake: Lake) -> list[dict]:
    """One entry per day from the first landed or run day to the last, ascending."""
    runs, landed = _run_days(lake), _landed_days(lake)
    known = set(runs) | landed
    if not known:
        return []
    first, last = min(known), max(known)
    statuses = []
    for n in range((last - first).days + 1):
        day = first + dt.timedelta(days=n)
        if day in runs:
            status, reason = _classify(runs[day])
        elif day in landed:
            status, reason = "not run", f"loanrisk run --date {day}"
        else:
            status, reason = "missing", "no loans file landed and nothing ran"
        statuses.append({"date": day.isoformat(), "status": status, "reason": reason})
    return statuses
