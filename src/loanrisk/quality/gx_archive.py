"""Retention of Great Expectations validation results: a rolling window in GX's store, every
older result kept in an archive folder beside it.

GX lists every stored result, parsing each key's run time, whenever it builds Data Docs, even
for a single new page: with every day kept in the store, each day's validation costs more than
the last, without bound. The Data Docs index shows the latest results only, so results older
than the window are moved out of the store unchanged. GX then deletes their pages from the site
at its next build; each day's page links copies kept beside them
(``loanrisk.report.validation_docs``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

#: Business days whose results stay in GX's store (the Data Docs index lists the latest 100
#: results, a few days' worth; older ones are in the archive).
STORE_DAYS = 7


def _run_day(run_dir: Path, feed: str) -> dt.date | None:
    """The business date of a stored run folder (run name ``<feed> YYYY-MM-DD``, or
    ``<feed> YYYY-MM-DD shard=k-of-K`` for a borrower shard's rows)."""
    name = run_dir.name
    if not name.startswith(f"{feed} "):
        return None
    try:
        return dt.date.fromisoformat(name.removeprefix(f"{feed} ").split(" ")[0])
    except ValueError:
        return None


def _move(source: Path, target: Path) -> None:
    """Move a folder into place, merging into one already archived (a rerun's results)."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        return
    for child in source.iterdir():
        _move(child, target / child.name) if child.is_dir() else child.replace(target / child.name)
    source.rmdir()


def archive_old_results(store: Path, archive: Path, feed: str, business_date: dt.date) -> int:
    """Move ``feed``'s results of days before ``business_date - STORE_DAYS`` from the GX
    results store to ``archive`` (same relative paths); return the run folders moved."""
    cutoff = business_date - dt.timedelta(days=STORE_DAYS)
    feed_dir = store / feed
    old = [
        run
        for run in sorted(feed_dir.glob("*/*"))
        if run.is_dir() and (day := _run_day(run, feed)) is not None and day < cutoff
    ]
    for run in old:
        _move(run, archive / run.relative_to(store))
    return len(old)
