"""One structured (JSON) log line per step run: what ran, for which day, counts and timings.

Each line goes to the ``loanrisk.steps`` logger (Airflow shows it in the task log) and is
appended to ``<data_root>/logs/YYYY-MM-DD.jsonl``, outside the lake and the run manifests,
because its timings change from run to run while the published outputs must not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import time
import types

from loanrisk.errors import LoanriskError
from loanrisk.lake.modes import append_line

log = logging.getLogger("loanrisk.steps")

#: Report keys copied into the log line when a stage's report has them.
COUNT_KEYS = ("rows_in", "rows_out", "rows_valid", "rows_quarantined", "suppressed")


def _counts(result: object) -> dict:
    if hasattr(result, "model_dump"):  # a typed step result
        result = result.model_dump(mode="json", exclude_unset=True)
    if not isinstance(result, dict):
        return {}
    counts = {k: result[k] for k in COUNT_KEYS if isinstance(result.get(k), int)}
    if isinstance(result.get("status"), str):  # e.g. an optional feed "missing"
        counts["outcome"] = result["status"]
    return counts


def _emit(lake, line: dict) -> None:
    text = json.dumps(line, sort_keys=True, default=str)
    log.info(text)
    append_line(lake.stage_log(dt.date.fromisoformat(line["business_date"])), text)


@contextlib.contextmanager
def logged(lake, step: str, business_date: dt.date, part: dict):
    """Log one run of ``step`` (for ``part``: its feed or shard) as one JSON line; the caller
    sets ``outcome.result`` to the step's result for its counts."""
    started, cpu = time.perf_counter(), time.process_time()
    line = {
        "event": "stage",
        "stage": step,
        "business_date": business_date.isoformat(),
        "args": [str(v) for v in part.values()],
        "pid": os.getpid(),
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),  # logs are not outputs
        "status": "error",  # an unexpected exception: the traceback is in the log
    }
    outcome = types.SimpleNamespace(result=None)
    try:
        yield outcome
    except LoanriskError as exc:
        line.update(status="failed", error_code=exc.code, error=str(exc))
        raise
    else:
        line.update(status="ok", **_counts(outcome.result))
    finally:
        line.update(
            seconds=round(time.perf_counter() - started, 3),
            cpu_seconds=round(time.process_time() - cpu, 3),
        )
        _emit(lake, line)
