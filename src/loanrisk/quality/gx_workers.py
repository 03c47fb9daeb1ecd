"""Running a feed's GX validation definitions on one day: here, or in forked workers.

GX has no Polars engine: the columns the suites read are converted once, through Arrow, and
each group gets a pandas frame of only its own columns: strings as pandas' Arrow-backed ``str``,
dates and other non-numbers as Arrow dtypes (no text formatting; ``isin`` of ISO strings still
matches a date), money as float64 (exact enough for comparisons at 2 decimals) and integers as
int64 (float64 with nulls), the dtypes GX's range checks vectorise. Days of ``PARALLEL_ROWS``
and more validate their groups in up to ``workers`` processes (``gx_workers`` in
``config/execution.yaml``): this one and forked ones, which inherit the Arrow table (never
Polars, which is not fork-safe) and store their own results.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager

import polars as pl

# The unexpected count and a sample of unexpected values: all the stage and the Data Docs use.
# SUMMARY adds each rule's unexpected index list and query, about half as much work again.
RESULT_FORMAT = "BASIC"
# Days of at least this many rows validate their groups in up to ``workers`` processes:
# figures in benchmarks/README.md.
PARALLEL_ROWS = 10_000

log = logging.getLogger("loanrisk.quality.gx_validation")


def arrow_table(frame: pl.DataFrame, columns: list[str]):
    """``columns`` of ``frame`` as one Arrow table: money as float64, integers as int64 (one
    conversion for every group: per group it costs twice as much), text as Polars' own string
    views, shared rather than copied (a copy of GX's text columns would be held beside the
    day's frame, doubling its text); each group's text becomes ``large_string`` as it is
    validated."""
    selected = []
    for name in columns:
        dtype = frame.schema[name]
        if isinstance(dtype, pl.Decimal):
            selected.append(pl.col(name).cast(pl.Float64))
        elif dtype.is_integer():
            selected.append(pl.col(name).cast(pl.Int64))
        else:
            selected.append(pl.col(name))
    return frame.select(selected).to_arrow(compat_level=pl.CompatLevel.newest())


def _large_strings(table):
    """``table`` with its string views as ``large_string``, what pandas' ``str`` and the checks
    of ``gx_custom`` read."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_string_view(field.type):
            text = table.column(index).cast(pa.large_string())
            table = table.set_column(index, field.name, text)
    return table


def _pandas_dtype(arrow_type):
    """None (pandas' default: numpy numbers, Arrow-backed ``str``) or an Arrow dtype."""
    import pandas as pd
    from pyarrow import types

    native = (types.is_integer, types.is_floating, types.is_string, types.is_large_string)
    return None if any(test(arrow_type) for test in native) else pd.ArrowDtype(arrow_type)


@contextmanager
def without_data_fingerprint():
    """Skip GX's md5 of each batch's rows, a marker stored with the result and not a check:
    hashing a big day's text takes seconds."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    saved = getattr(engine, "HASH_THRESHOLD", 0)
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = saved


@contextmanager
def configurations_built_once():
    """Build each expectation's ``configuration`` once while validating, not at every read.

    GX's ``Expectation.configuration`` is a property that serialises the expectation's pydantic
    model into a new ``ExpectationConfiguration`` each time it is read: dozens of times per
    expectation per run (each domain and success kwarg is looked up through it), a large part
    of GX's fixed cost per run. The expectations GX builds for a run are not changed while it
    runs, so the first configuration serves. The cache holds the expectation itself, so a
    recycled ``id`` never matches, and lives for one ``with``.
    """
    from great_expectations.expectations.expectation import Expectation

    built = Expectation.__dict__["configuration"]
    cache: dict[int, tuple] = {}

    def configuration(self):
        found = cache.get(id(self))
        if found is None or found[0] is not self:
            found = cache[id(self)] = (self, built.fget(self))
        return found[1]

    Expectation.configuration = property(configuration, doc=built.__doc__)
    try:
        yield
    finally:
        Expectation.configuration = built


def _validate(definition, table, columns: list[str], parameters: dict, run_id):
    """One group run: (unexpected rows per reason, batch id, seconds converting and running)."""
    start = time.perf_counter()
    batch = _large_strings(table.select(columns)).to_pandas(types_mapper=_pandas_dtype)
    converted = time.perf_counter()
    with configurations_built_once():
        result = definition.run(
            batch_parameters={"dataframe": batch},
            expectation_parameters=parameters,
            result_format=RESULT_FORMAT,
            run_id=run_id,
        )
    counts = {
        item.expectation_config.meta["reason"]: int(item.result.get("unexpected_count") or 0)
        for item in result.results
    }
    seconds = {"convert": converted - start, "runs": time.perf_counter() - converted}
    return counts, result.batch_id, seconds


# The day's jobs, biggest first, and the index of the next one to take: module state so that
# forked workers inherit them (the table is never pickled).
_JOBS: list[tuple] = []  # (definition, Arrow table, columns) per group
_NEXT = None  # a shared multiprocessing.Value, set before forking


def worker_count(rows: int, groups: int, workers: int) -> int:
    """Processes to validate in, up to ``workers``: several only for a big day, on Linux (fork
    is unsafe on macOS), outside daemonic processes (which may not have children), with cores
    to use."""
    if rows < PARALLEL_ROWS or multiprocessing.current_process().daemon:
        return 1
    if not sys.platform.startswith("linux"):
        return 1
    return max(1, min(workers, len(os.sched_getaffinity(0)), groups))


def _take_jobs(parameters: dict, run_id) -> dict[int, tuple]:
    """Validate the next job of the shared queue until none is left: {job: outcome}."""
    done = {}
    while True:
        with _NEXT.get_lock():
            index = _NEXT.value
            _NEXT.value += 1
        if index >= len(_JOBS):
            return done
        done[index] = _validate(*_JOBS[index], parameters, run_id)


def _shared(workers: int, parameters: dict, run_id) -> dict[int, tuple]:
    """Outcomes of every job, taken from one queue by this process and ``workers - 1`` forked
    ones; the jobs of a worker that died (killed, out of memory) are validated here. (No job is
    ever cancelled: cancelling a queued future raced the pool's own thread when a worker died,
    which then printed a traceback of ``InvalidStateError``.)"""
    global _NEXT
    context = multiprocessing.get_context("fork")
    _NEXT = context.Value("i", 0)
    done, died = {}, False
    with ProcessPoolExecutor(workers - 1, mp_context=context) as pool:
        futures = [pool.submit(_take_jobs, parameters, run_id) for _ in range(workers - 1)]
        done.update(_take_jobs(parameters, run_id))
        for future in futures:
            try:
                done.update(future.result())
            except BrokenProcessPool:
                died = True
    if died:
        lost = [i for i in range(len(_JOBS)) if i not in done]
        log.warning("a GX worker process died; validating its %d group(s) here", len(lost))
        done.update({i: _validate(*_JOBS[i], parameters, run_id) for i in lost})
    return done


def validate_groups(table, jobs: list[tuple], parameters: dict, run_id, workers: int):
    """Every group's outcome, in order, for ``jobs`` of (definition, columns), and the number
    of processes used (``worker_count`` of ``workers``): this one and the others forked (one
    fork fewer than processes: forking a process holding the day costs 0.2-0.5 CPU-s). Groups
    are taken from one queue, most expectations first: no process waits while another has
    several groups left.
    A worker's exception is raised as it is."""
    global _NEXT
    workers = worker_count(table.num_rows, len(jobs), workers)
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0].suite.expectations))
    _JOBS[:] = [(jobs[i][0], table, jobs[i][1]) for i in order]
    try:
        if workers == 1:
            done = {k: _validate(*job, parameters, run_id) for k, job in enumerate(_JOBS)}
        else:
            done = _shared(workers, parameters, run_id)
        by_group = {order[k]: outcome for k, outcome in done.items()}
        return [by_group[i] for i in range(len(jobs))], workers
    finally:
        _JOBS.clear()
        _NEXT = None
