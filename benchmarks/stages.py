"""Each step run of a benchmark day measured in whichever process runs it.

``run_day`` runs some steps in the day's process and may run others (the shard steps) in child
processes. ``install(path)`` wraps ``loanrisk.pipeline.runner.run_step`` so that every call
appends one JSON line to ``path``: the step's label, the process id, when it started and ended
(epoch seconds, comparable across processes), wall and CPU seconds (waited-for children
included) and peak RSS (VmHWM reset before the step). The day's process installs it itself;
a forked child inherits the wrapper; a child started afresh (spawn, forkserver, a ``loanrisk``
command) installs it from ``benchmarks/stage_hook/sitecustomize.py`` when it inherits
``STAGES_ENV`` and ``HOOK_DIR`` on its PYTHONPATH (``export_to_children``). A step run where
neither reached (a child started with a scrubbed environment) is still listed, from the day's
stage log (``<data_root>/logs/D.jsonl``: wall and CPU seconds of its own process, no peak), so
no step goes unseen.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.measure import Cost, measured

#: The environment variable naming the records file for processes started by the day.
STAGES_ENV = "LOANRISK_BENCH_STAGES"
#: The folder whose ``sitecustomize.py`` installs the wrapper in a fresh Python process.
HOOK_DIR = Path(__file__).resolve().parent / "stage_hook"
PROJECT = Path(__file__).resolve().parents[1]


def _append(path: str, record: dict) -> None:
    """One line, one ``write`` on an O_APPEND file: lines of concurrent processes never mix."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def install(path: str | Path) -> None:
    """Wrap ``run_step`` so that each call appends its record to ``path`` (once per process:
    a second call, or a forked child's inherited wrapper, changes nothing)."""
    import loanrisk.pipeline.runner as runner

    if getattr(runner.run_step, "bench_records", None) is not None:
        return
    original, target = runner.run_step, str(path)

    @functools.wraps(original)
    def timed(name, business_date, settings, run=None, **part):
        label = ":".join([name, *(str(v) for v in part.values())])
        cost, started = Cost(), time.time()
        try:
            with measured(cost):
                return original(name, business_date, settings, run, **part)
        finally:
            times = {"started": round(started, 3), "ended": round(time.time(), 3)}
            _append(target, {"stage": label, "pid": os.getpid(), **times, **cost.as_dict()})

    timed.bench_records = target
    runner.run_step = timed


class _WhenImported:
    """A meta path finder that installs the wrapper right after ``loanrisk.pipeline.runner``
    is first imported, so a child that never runs a step does not import the pipeline for it
    (its peak RSS stays its own)."""

    MODULE = "loanrisk.pipeline.runner"

    def __init__(self, path: str) -> None:
        self.path = path

    def find_spec(self, name, import_path=None, target=None):
        if name != self.MODULE:
            return None
        sys.meta_path.remove(self)  # find the real spec without finding ourselves
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load, records = spec.loader.exec_module, self.path

        def exec_module(module):
            load(module)
            install(records)

        spec.loader.exec_module = exec_module
        return spec


def install_when_imported(path: str) -> None:
    """Install the wrapper once ``loanrisk.pipeline.runner`` is imported (at once if it is)."""
    if _WhenImported.MODULE in sys.modules:
        install(path)
    else:
        sys.meta_path.insert(0, _WhenImported(path))


def export_to_children(path: Path) -> None:
    """Let every Python process this one starts install the wrapper too (``STAGES_ENV`` and
    the hook folder on PYTHONPATH, with the project so that ``benchmarks`` imports)."""
    paths = [str(HOOK_DIR), str(PROJECT)]
    paths += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p not in paths]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    os.environ[STAGES_ENV] = str(path)


def read(path: Path) -> list[dict]:
    """The records written to ``path``, in the order their steps started."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return sorted((json.loads(line) for line in lines if line), key=lambda r: r["started"])


def unmeasured(stage_log: Path, records: list[dict], since: float) -> list[dict]:
    """Step runs in the day's stage log since ``since`` (epoch seconds) that no record covers
    (same label and process): wall and CPU seconds as the log has them, no peak."""
    if not stage_log.exists():
        return []
    seen = {(r["stage"], r["pid"]) for r in records}
    found = []
    for line in stage_log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("event") != "stage" or _epoch(entry["at"]) < since - 1:
            continue
        label = ":".join([entry["stage"], *entry.get("args", [])])
        if (label, entry["pid"]) in seen:
            continue
        started = _epoch(entry["at"])
        found.append(
            {
                "stage": label,
                "pid": entry["pid"],
                "started": started,
                "ended": round(started + entry["seconds"], 3),
                "wall_s": entry["seconds"],
                "cpu_s": entry["cpu_seconds"],
                "peak_rss_mib": None,
                "source": "stage log",
            }
        )
    return found


def _epoch(at: str) -> float:
    return round(dt.datetime.fromisoformat(at).timestamp(), 3)


def covered_seconds(records: list[dict]) -> float:
    """Seconds during which at least one step ran (steps of parallel children counted once)."""
    total, end = 0.0, float("-inf")
    for record in sorted(records, key=lambda r: r["started"]):
        start = max(record["started"], end)
        if record["ended"] > start:
            total += record["ended"] - start
        end = max(end, record["ended"])
    return round(total, 3)
