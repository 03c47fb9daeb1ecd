"""``reports/D/validation/index.html``: the day's Great Expectations results (DESIGN.md §3, §12).

One row per feed and column group of the day's latest run, with GX's own statistics and every
rule that found unexpected rows, each linking its Data Docs page in the shared site
(``reports/validation``, which also holds the index of recent results). Read from the results
GX stored (or archived, ``gx_archive.py``); pages of a rerun replace the earlier run's here.

GX deletes a page from ``validations/`` once its result leaves the store (after
``gx_archive.STORE_DAYS``), so the day's page links copies kept beside it
(``reports/D/validation/<feed>/<group>.html``), their links into the site rewritten. They are
kept outside the site: GX walks the whole site folder twice at every build, so every day kept
inside it would make each build slower.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

from loanrisk.domain.feeds import FEEDS
from loanrisk.lake.storage import Lake, write_bytes_atomic
from loanrisk.quality.gx_validation import build_docs, results_store

UP_LINK = re.compile(rb'((?:href|src)=")(?:\.\./)+')
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}.bad{color:#b00020;font-weight:600}"
)


def latest_results(store: Path, feed: str, day: dt.date) -> list[Path]:
    """The result file of each column group's latest run of ``feed`` on ``day`` (sorted): of
    the unsharded run (``<feed> D``) or of each shard's (``<feed> D shard=k-of-K``), whichever
    set ran last."""
    found = []
    for group in sorted(p for p in (store / feed).glob("*") if p.is_dir()):
        latest = {}  # run name -> its latest result (run folders are GX run times, sortable)
        for run in group.iterdir():
            if run_day_and_set(run.name, feed, day) and (files := sorted(run.glob("*/*.json"))):
                latest[run.name] = files[-1]
        sets: dict[str, list[Path]] = {}
        for name, result in sorted(latest.items()):
            sets.setdefault(run_day_and_set(name, feed, day), []).append(result)
        if sets:
            found += max(sets.values(), key=lambda s: max(r.parent.name for r in s))
    return found


def run_day_and_set(name: str, feed: str, day: dt.date) -> str | None:
    """The set a GX run of ``feed`` on ``day`` belongs to: "1" unsharded, "K" for a shard of
    K; None for another day's or feed's run."""
    head = f"{feed} {day.isoformat()}"
    if name == head:
        return "1"
    if name.startswith(f"{head} shard=") and "-of-" in name:
        return name.rpartition("-of-")[2]
    return None


def _row(result_file: Path, relative: Path, page: Path | None, report_dir: Path) -> str:
    result = json.loads(result_file.read_text(encoding="utf-8"))
    stats = result.get("statistics", {})
    found = sorted(
        (r["expectation_config"]["meta"].get("reason", r["expectation_config"]["type"]), n)
        for r in result.get("results", [])
        if (n := int((r.get("result") or {}).get("unexpected_count") or 0))
    )
    rules = "<br>".join(f"{html.escape(reason)}: {n:,}" for reason, n in found) or "none"
    link = "not kept"
    if page is not None:
        href = quote(Path(os.path.relpath(page, report_dir)).as_posix())  # names hold a space
        link = f'<a href="{html.escape(href)}">page</a>'
    failed = stats.get("unsuccessful_expectations", 0)
    return (
        f"<tr><td>{html.escape(relative.parts[0])}</td><td>{html.escape(_group(relative))}</td>"
        f"<td>{stats.get('evaluated_expectations', 0)}</td>"
        f"<td{' class=bad' if failed else ''}>{failed}</td><td>{rules}</td>"
        f"<td>{link}</td></tr>"
    )


def _group(relative: Path) -> str:
    """The column group of a result, with its shard (``all shard=0-of-3``) when sharded."""
    group, run = relative.parts[1:3]
    return f"{group} {run.rpartition(' ')[2]}" if " shard=" in run else group


def day_results(lake: Lake, store: Path, day: dt.date) -> list[tuple[Path, Path]]:
    """(folder, result file) of the day's latest result per feed and column group: from GX's
    store, or from the archive for a day older than the store's window."""
    found = []
    for feed in FEEDS:
        for base in (store, lake.gx_archive):
            if results := latest_results(base, feed, day):
                found += [(base, result) for result in results]
                break
    return found


def build_day_validation_page(lake: Lake, results: list[tuple[Path, Path]], day: dt.date) -> Path:
    """Write ``reports/D/validation/index.html`` from the day's results (``day_results``)."""
    target = lake.validation_page(day)
    rows = []
    for base, result in results:
        relative = result.relative_to(base)
        page = lake.kept_data_docs_page(day, relative)
        rows.append(_row(result, relative, page if page.exists() else None, target.parent))
    index = Path(os.path.relpath(lake.data_docs_index, target.parent)).as_posix()
    body = "".join(rows) or '<tr><td colspan="6">no validation results for this day</td></tr>'
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Validation {day}</title>"
        f"<style>{STYLE}</style></head><body><h1>Validation, {day}</h1>"
        "<p>Great Expectations results of the day's feeds (latest run), one row per column "
        f'group. All recent results: <a href="{index}">Data Docs</a>.</p>'
        "<table><tr><th>feed</th><th>column group</th><th>expectations</th><th>failed</th>"
        f"<th>rules with unexpected rows</th><th></th></tr>{body}</table></body></html>\n"
    )
    return write_bytes_atomic(page.encode("utf-8"), target)


def relinked(page: bytes, copy: Path, site: Path) -> bytes:
    """GX's ``page`` with its links up into the site (``../`` repeated: five deep for the
    index, four for GX's favicon) made to reach ``site`` from where ``copy`` lies."""
    prefix = Path(os.path.relpath(site, copy.parent)).as_posix().encode() + b"/"
    return UP_LINK.sub(lambda link: link.group(1) + prefix, page)


def keep_pages(lake: Lake, day: dt.date, results: list[Path]) -> None:
    """Copy the pages GX rendered for ``results`` (store-relative) beside the day's page,
    replacing an earlier run's copy of the same day and column group. GX renders the newest
    ``DOCS_INDEX_RESULTS`` results only: a big day of many shards has more, and the day's page
    says "not kept" for the rest (their figures are on it all the same)."""
    for result in results:
        kept = lake.kept_data_docs_page(day, result)
        if not (rendered := lake.data_docs_page(result)).exists():
            continue
        page = rendered.read_bytes()
        write_bytes_atomic(relinked(page, kept, lake.data_docs), kept)


def drop_empty_folders(root: Path) -> None:
    """Remove the folders under ``root`` left empty: GX deletes pages, not their folders, and
    walks them all on every build (thousands of them after a year of days)."""
    for folder, _, files in os.walk(root, topdown=False):
        if not files and Path(folder) != root:
            with suppress(OSError):  # not empty: it still holds a folder
                os.rmdir(folder)


def build_validation_docs(lake: Lake, day: dt.date) -> Path:
    """The day's Data Docs pages (those still in GX's store), the site index and the day's
    page, built once a day (by the report, or at once when a stage stops the day); returns the
    day's page."""
    store = results_store(lake.gx_root, lake.data_docs)
    results = day_results(lake, store, day)
    stored = [result.relative_to(store) for base, result in results if base == store]
    build_docs(lake.gx_root, lake.data_docs, stored)
    keep_pages(lake, day, stored)
    drop_empty_folders(lake.data_docs_validations)
    return build_day_validation_page(lake, results, day)
