"""Multi-day runs: ``backfill`` (days in order, progress bar, summary) and ``reprocess``."""

from __future__ import annotations

import datetime as dt
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from loanrisk.config import Settings
from loanrisk.lake.storage import lake_of
from loanrisk.lake.versions import restatement
from loanrisk.pipeline.runner import run_day


def business_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


def backfill(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    console: Console | None = None,
    allow_gap: bool = False,
    reason: str | None = None,
) -> list[dict]:
    """Run every day from ``start`` to ``end`` in order; stop at the first failing day.
    ``allow_gap`` lets the first day continue history across days never processed. A range over
    stored days (or with later days stored) is a restatement: switched in only if it all
    succeeds (DESIGN.md §5b)."""
    with restatement(settings, start, f"backfill {start}..{end}") as shadow:
        return _backfill(shadow, start, end, console, allow_gap, reason)


def _backfill(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    console: Console | None,
    allow_gap: bool,
    reason: str | None,
) -> list[dict]:
    console = console or Console(stderr=True, soft_wrap=True)
    days = business_days(start, end)
    manifests = []
    started = time.perf_counter()
    columns = (
        TextColumn("[bold]backfill[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("", total=len(days))
        for day in days:
            progress.update(bar, description=day.isoformat())
            # Later days of the range are rerun in full next: recompute only after the last one.
            manifests.append(
                run_day(
                    day,
                    settings,
                    allow_gap=allow_gap and day == start,
                    recompute_later=day == end,
                    reason=reason,
                )
            )
            progress.advance(bar)
    _print_backfill_summary(console, manifests, time.perf_counter() - started)
    return manifests


def reprocess(
    settings: Settings, day: dt.date, console: Console | None = None, reason: str | None = None
) -> list[dict]:
    """A corrected file for a past ``day``: rerun it and every later processed day in order, in
    full (validation, continuity, history, scores, extracts), so the data_root ends as if the
    corrected file had arrived on time. Published only if every day succeeds (DESIGN.md §5b):
    otherwise every day stays as it was published."""
    last = max([day, *processed_days(lake_of(settings))])
    with restatement(settings, day, f"reprocess {day}") as shadow:
        return _backfill(shadow, day, last, console, False, reason or f"reprocess of {day}")


def processed_days(lake) -> list[dt.date]:
    runs = lake.runs_dir
    found = runs.glob("*/manifest.json") if runs.is_dir() else ()
    return sorted(dt.date.fromisoformat(p.parent.name) for p in found)


def run_one_day(settings: Settings, day: dt.date, **options) -> dict:
    """``loanrisk run``: one day; a rerun of a stored day (or one with later days stored) is a
    restatement: published only if it succeeds, every day kept as it was otherwise."""
    with restatement(settings, day, f"run {day}") as shadow:
        reason = f"rerun of {day}" if shadow is not settings else None
        return run_day(day, shadow, reason=reason, **options)


def _print_backfill_summary(console: Console, manifests: list[dict], seconds: float) -> None:
    rows_in = sum(m["rows_in"] for m in manifests)
    quarantined = sum(m["rows_quarantined"] for m in manifests)
    warnings = sum(sum(m["warnings"].values()) for m in manifests)
    console.print(
        f"backfill: {len(manifests)} day(s) published, {rows_in:,} loan rows in, "
        f"{quarantined:,} quarantined, {warnings:,} warnings, {seconds:.1f}s"
    )
