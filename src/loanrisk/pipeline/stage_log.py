"""One structured (JSON) log line per stage run: what ran, for which day, counts and timings.

Each line goes to the ``loanrisk.pipeline.stages`` logger (Airflow shows it in the task log) and is
appended to ``<data_root>/logs/YYYY-MM-DD.jsonl``, outside the lake and the run manifests,
because its timings change from run to run while the published outputs must not.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import time

from loanrisk.errors import LoanriskError

log = logging.getLogger("loanrisk.pipeline.stages")

#: Report keys copied into the log line when a stage's report has them.
COUNT_KEYS = ("rows_in", "rows_out", "rows_valid", "rows_quarantined", "suppressed")


def _counts(report: object) -> dict:
    if not isinstance(report, dict):
        return {}
    counts = {k: report[k] for k in COUNT_KEYS if isinstance(report.get(k), int)}
    if isinstance(report.get("status"), str):  # e.g. an optional feed "missing"
        counts["outcome"] = report["status"]
    return counts


def _emit(lake, line: dict) -> None:
    text = json.dumps(line, sort_keys=True, default=str)
    log.info(text)
    path = lake.stage_log(dt.date.fromisoformat(line["business_date"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def logged(lake_of):
    """Decorate a stage ``f(business_date, settings, ...)``: log its outcome as one JSON line."""

    def decorate(stage):
        @functools.wraps(stage)
        def wrapper(business_date: dt.date, settings, *args, **kwargs):
            started, cpu = time.perf_counter(), time.process_time()
            line = {
                "event": "stage",
                "stage": stage.__name__,
                "business_date": business_date.isoformat(),
                "args": [str(a) for a in args],
                "pid": os.getpid(),
                "status": "error",  # an unexpected exception: the traceback is in the log
            }
            try:
                report = stage(business_date, settings, *args, **kwargs)
            except LoanriskError as exc:
                line.update(status="failed", error_code=exc.code, error=str(exc))
                raise
            else:
                line.update(status="ok", **_counts(report))
                return report
            finally:
                line.update(
                    seconds=round(time.perf_counter() - started, 3),
                    cpu_seconds=round(time.process_time() - cpu, 3),
                )
                _emit(lake_of(settings), line)

        return wrapper

    return decorate
