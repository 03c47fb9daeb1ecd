"""``loanrisk status``: every business day of a data_root and where it stands.

A day is *published*, *gated* (stopped by a batch gate: fix the file or accept the gate),
*failed* (stopped for another reason), *not run* (its loans file has landed, nothing ran yet) or
*missing* (a gap inside the processed range with no loans file either), or *in doubt* (a rerun
covering it died midway: the next run that takes over the lock puts it back).
"""

from __future__ import annotations

import datetime as dt
import re

from loanrisk.errors import ACCEPTABLE_GATES
from loanrisk.lake.storage import Lake, read_json
from loanrisk.lake.versions import journals
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
        if after := manifest.get("after_publishing"):
            notes.append(f"{after['step']} failed after publishing: {after['error']}")
        rows_out, quarantined = manifest.get("rows_out", 0), manifest.get("rows_quarantined", 0)
        rows = f"{rows_out:,} loans, {quarantined:,} quarantined"
        return "published", "; ".join([rows, *notes])
    failure = manifest.get("failure") or {}
    kind = "gated" if failure.get("gate") in GATES else "failed"
    return kind, failure.get("message") or "no reason recorded"


def _restated(day: dt.date, status: str, reason: str, reruns: list) -> tuple[str, str]:
    """A day a rerun from an earlier day covers: *in doubt* while that rerun died midway (its
    days are put back by the next run that takes over its lock); a failed rerun is named."""
    for version, journal in reruns:
        if day < dt.date.fromisoformat(journal["first_day"]):
            continue
        what = f"{journal['purpose']} (pid {journal['pid']}, {journal['started']})"
        if journal["state"] == "running" and status != "not run":
            return "in doubt", f"{what} died midway; rerun with --break-stale-lock to put it back"
        if journal["state"] == "failed" and day.isoformat() == journal["first_day"]:
            reason += f"; {what} failed and was put back ({journal['error']}), see {version.name}"
    return status, reason


def day_statuses(lake: Lake) -> list[dict]:
    """One entry per day from the first landed or run day to the last, ascending."""
    runs, landed, reruns = _run_days(lake), _landed_days(lake), journals(lake)
    known = set(runs) | landed
    if not known:
        return []
    first, last = min(known), max(known)
    statuses = []
    for n in range((last - first).days + 1):
        day = first + dt.timedelta(days=n)
        if day in runs:
            status, reason = _classify(runs[day])
            if status == "published" and not lake.risk_report(day).exists():
                reason += f"; risk report missing: loanrisk report --date {day}"
        elif day in landed:
            status, reason = "not run", f"loanrisk run --date {day}"
        else:
            status, reason = "missing", "no loans file landed and nothing ran"
        status, reason = _restated(day, status, reason, reruns)
        statuses.append({"date": day.isoformat(), "status": status, "reason": reason})
    return statuses
