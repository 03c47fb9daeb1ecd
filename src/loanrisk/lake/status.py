"""``loanrisk status``: every business day of a data_root and where it stands.

A day is *published*, *gated* (stopped by a batch gate: fix the file or accept the gate),
*failed* (stopped for another reason), *not run* (its loans file has landed, nothing ran yet) or
*missing* (a gap inside the processed range with no loans file either), or *in doubt* (a rerun
covering it died while switching its new version in: the next run that takes over the lock
finishes the switch).
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


def _run_days(lake: Lake, reruns: list) -> dict[dt.date, dict]:
    """Every day's manifest; while a switch is cut short between moving ``runs`` aside and
    putting the new one in, the manifests set aside."""
    runs = lake.runs_dir
    for version, journal in reruns:
        if journal["state"] == "switching" and not runs.is_dir():
            runs = version / "before" / "runs"
    if not runs.is_dir():
        return {}
    days = {}
    for folder in runs.iterdir():
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
    """A day a rerun from an earlier day covers: *in doubt* while a switch was cut short (the
    next run that takes over its lock finishes it); a rerun that stopped, or died before
    switching in, changed nothing and is named beside the published day."""
    for version, journal in reruns:
        if day < dt.date.fromisoformat(journal["first_day"]):
            continue
        what = f"{journal['purpose']} (pid {journal['pid']}, {journal['started']})"
        if journal["state"] == "switching" and status != "not run":
            return "in doubt", (
                f"{what} died while switching in its new version; "
                "the next run with --break-stale-lock finishes it"
            )
        if day.isoformat() != journal["first_day"]:
            continue
        if journal["state"] == "running":
            reason += f"; {what} is rerunning it in {version.name} (or died: nothing changed)"
        elif journal["state"] in ("failed", "abandoned"):
            reason += f"; {what} {journal['state']}, nothing changed ({journal['error']}), "
            reason += f"see {version.name}"
    return status, reason


def day_statuses(lake: Lake) -> list[dict]:
    """One entry per day from the first landed or run day to the last, ascending."""
    reruns = journals(lake)
    runs, landed = _run_days(lake, reruns), _landed_days(lake)
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
