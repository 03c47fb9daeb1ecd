"""The one way a step runs: ``run_step`` looks it up in the registry, logs it as one JSON line
and, when a step that stops the day fails, records the failed day; ``run_day`` runs the daily
steps of the registry in order. The CLI, the Airflow tasks and the month-end rebuild all come
through here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

from loanrisk.config import Settings
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import LoanriskError, one_line
from loanrisk.lake.modes import set_permissions
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
    """The runs of one step in a day: once, once per feed, once per shard of the day's K
    (recorded at ingest; none unsharded: the combine step computes the whole book), or once
    per feed and shard."""
    if kind == "feed":
        return [{"feed": feed} for feed in FEEDS]
    if kind in ("shard", "feed_shard"):
        count = shard_count(lake_of(settings), business_date, settings.execution)
        shards = [{"shard": shard} for shard in range(count)] if count > 1 else []
        if kind == "shard":
            return shards
        return [{"feed": feed, **shard} for feed in FEEDS for shard in shards]
    return [{}]


def _run_part(name: str, business_date: dt.date, settings: Settings, run: DayRun, part: dict):
    """One shard task (or a part of a ``side_by_side`` step) in a worker process
    (``ShardWorkers``): first the file modes the run's
    execution.yaml sets (``enter_data_root`` set them in the parent)."""
    set_permissions(settings.execution.file_group_read)
    return run_step(name, business_date, settings, run, **part)


#: What every shard task imports, imported once by the server the workers are forked from
#: (in a fresh interpreter per task, Great Expectations alone cost each validate_shard
#: seconds of CPU: benchmarks/README.md).
PRELOAD = ["loanrisk.pipeline.steps", "loanrisk.quality.gx_validation", "great_expectations"]


def _as_submitted(environment: dict, folder: str, umask: int, function, *args):
    """Run ``function`` with the environment, folder and umask its parent had when it was
    submitted: a forked worker has the fork server's, taken when the server started."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(folder)
    os.umask(umask)
    return function(*args)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


class ShardWorkers:
    """The processes a day's shard tasks run in, one task per process at a time, as many
    processes as ``workers`` (default: cores): a process holds one shard task, never the
    book, and the cores work side by side as Airflow's workers would.

    Each task gets a process of its own (one task per process, so no task inherits another's
    memory: a 10M-loan day's validate_shard took 2.4 GiB fresh, 4.5 GiB in a reused process),
    forked from a ``forkserver`` that imported ``PRELOAD`` and never ran a step (so no Polars
    thread pool is forked mid-flight); ``_as_submitted`` gives it its parent's environment,
    folder and umask, as a spawned process would have."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or len(os.sched_getaffinity(0))
        self.pool: ProcessPoolExecutor | None = None

    def submit(self, function, *args) -> Future:
        """``function(*args)`` in a fresh worker process."""
        if self.pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)  # no effect once the server has started
            self.pool = ProcessPoolExecutor(
                max(self.workers, 2), mp_context=context, max_tasks_per_child=1
            )
        context_now = (dict(os.environ), os.getcwd(), _umask())
        return self.pool.submit(_as_submitted, *context_now, function, *args)

    def run(self, name: str, business_date: dt.date, settings, run: DayRun, parts: list[dict]):
        if min(len(parts), self.workers) < 2:
            return [run_step(name, business_date, settings, run, **part) for part in parts]
        futures = [
            self.submit(_run_part, name, business_date, settings, run, part) for part in parts
        ]
        return [future.result() for future in futures]  # the first failure, as run in order

    def __enter__(self) -> ShardWorkers:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def run_day(
    business_date: dt.date,
    settings: Settings,
    accepted: dict[str, str] | None = None,
    allow_gap: bool = False,
    recompute_later: bool = True,
    reason: str | None = None,
) -> dict:
    """Every daily step of one business day, in the registry's order; returns the run
    manifest. Shard steps run side by side in worker processes (``ShardWorkers``), as Airflow's
    mapped tasks do on its workers.
    ``recompute_later`` False skips ``recompute_later_days`` (a backfill reruns those days in
    full next)."""
    run = DayRun(accepted=dict(accepted or {}), allow_gap=allow_gap, reason=reason)
    manifest: dict = {}
    sharded = settings.execution.shards != 1  # "auto" or K > 1: the feeds ingest side by side
    with ShardWorkers() as workers:
        for entry in DAILY:
            if entry.name == "recompute_later_days" and not recompute_later:
                continue
            parts = _parts(entry.per, settings, business_date)
            if entry.per_shard or (entry.side_by_side and sharded):
                workers.run(entry.name, business_date, settings, run, parts)
                continue
            for part in parts:
                result = run_step(entry.name, business_date, settings, run, **part)
            if entry.name == "recompute_later_days":
                days = tuple(dt.date.fromisoformat(day) for day in result)
                run = DayRun(run.accepted, run.allow_gap, recomputed=days, reason=reason)
            elif entry.name == "finalize_run":
                manifest = result
    return manifest
