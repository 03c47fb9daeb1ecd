"""The one way a step runs: ``run_step`` looks it up in the registry, logs it as one JSON line
and, when a step that stops the day fails, records the failed day; ``run_day`` runs the daily
steps of the registry in order. The CLI, the Airflow tasks and the month-end rebuild all come
through here.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from loanrisk.config import Settings
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import LoanriskError, one_line
from loanrisk.lake.runs import clear_after_publishing, fail_day, record_after_publishing
from loanrisk.lake.shards import shard_count
from loanrisk.lake.storage import lake_of
from loanrisk.lake.warehouse import refresh_warehouse
from loanrisk.pipeline.registry import DAILY, DayRun, step
from loanrisk.pipeline.stage_log import logged
from loanrisk.report.validation_docs import build_validation_docs


def run_step(
    name: str,
    business_date: dt.date,
    settings: Settings,
    run: DayRun | None = None,
    **part: str | int,
):
    """Run the step ``name`` for ``business_date`` (and ``part``: its ``feed`` or ``shard``).

    A ``LoanriskError`` of a step that stops the day (a gate, a broken file, a count that does
    not reconcile) first records the failed day: a failed manifest, nothing of the day
    published, the warehouse and the day's validation pages refreshed for the diagnosis."""
    entry, lake = step(name), lake_of(settings)
    with logged(lake, name, business_date, part) as outcome:
        try:
            outcome.result = entry.function(business_date, settings, run or DayRun(), **part)
        except Exception as exc:
            if entry.stops_day and isinstance(exc, LoanriskError):
                fail_day(lake, business_date, settings, exc)
                refresh_warehouse(lake, settings.contracts_dir, settings.classification)
                build_validation_docs(lake, business_date)
            elif not entry.stops_day:
                _record_after_publishing(lake, business_date, name, exc)
            raise
        if not entry.stops_day:
            clear_after_publishing(lake, business_date, name)
    return outcome.result


def _record_after_publishing(lake, business_date: dt.date, name: str, exc: Exception) -> None:
    """A step that does not stop the day failed: a published day says so in its manifest (best
    effort: the disk may be what failed)."""
    with contextlib.suppress(OSError):
        record_after_publishing(lake, business_date, name, one_line(exc))


def _parts(kind: str, settings: Settings, business_date: dt.date) -> list[dict]:
    """The runs of one step in a day: once, once per feed, or once per shard of the day's K
    (recorded at ingest; none unsharded: the combine step computes the whole book)."""
    if kind == "feed":
        return [{"feed": feed} for feed in FEEDS]
    if kind == "shard":
        count = shard_count(lake_of(settings), business_date, settings.execution)
        return [{"shard": shard} for shard in range(count)] if count > 1 else []
    return [{}]


def run_day(
    business_date: dt.date,
    settings: Settings,
    accepted: dict[str, str] | None = None,
    allow_gap: bool = False,
    recompute_later: bool = True,
    reason: str | None = None,
) -> dict:
    """Every daily step of one business day, in the registry's order; returns the run
    manifest. Shard steps run one after another here (side by side as Airflow's mapped tasks).
    ``recompute_later`` False skips ``recompute_later_days`` (a backfill reruns those days in
    full next)."""
    run = DayRun(accepted=dict(accepted or {}), allow_gap=allow_gap, reason=reason)
    manifest: dict = {}
    for entry in DAILY:
        if entry.name == "recompute_later_days" and not recompute_later:
            continue
        for part in _parts(entry.per, settings, business_date):
            result = run_step(entry.name, business_date, settings, run, **part)
        if entry.name == "recompute_later_days":
            days = tuple(dt.date.fromisoformat(day) for day in result)
            run = DayRun(run.accepted, run.allow_gap, recomputed=days, reason=reason)
        elif entry.name == "finalize_run":
            manifest = result
    return manifest
