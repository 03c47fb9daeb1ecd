"""Measuring a phase: wall seconds, CPU seconds (children included) and peak RSS; the machine."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Cost:
    """What one phase cost: wall and CPU seconds (user + system, waited-for children
    included), peak RSS in MiB (VmHWM after a reset before the phase: the whole process, what
    it held before the phase included), the RSS at the start of the phase, and the largest
    peak RSS of any waited-for child process so far (forked GX workers; not resettable, so a
    running maximum since the process started)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mib: float = 0.0
    start_rss_mib: float = 0.0
    children_peak_rss_mib: float = 0.0

    def as_dict(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def _status_mib(field: str) -> float | None:
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return None


def peak_mib() -> float:
    """VmHWM of this process in MiB (ru_maxrss where /proc is not there)."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux); elsewhere peaks accumulate over phases."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@contextmanager
def measured(cost: Cost):
    """Fill ``cost`` with the wall time, CPU time and peak RSS of the ``with`` body."""
    reset_peak()
    cost.start_rss_mib = _status_mib("VmRSS") or 0.0
    start, cpu = time.perf_counter(), cpu_seconds()
    try:
        yield cost
    finally:
        cost.wall_s = time.perf_counter() - start
        cost.cpu_s = cpu_seconds() - cpu
        cost.peak_rss_mib = peak_mib()
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        cost.children_peak_rss_mib = children


def timed(function, *args, **kwargs) -> tuple[object, dict]:
    """(result of ``function(*args, **kwargs)``, its cost as a dict)."""
    cost = Cost()
    with measured(cost):
        result = function(*args, **kwargs)
    return result, cost.as_dict()


def _memory_gib() -> float | None:
    with suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def _cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict:
    """Cores, memory, CPU model, OS and the versions of the engines measured."""
    import duckdb
    import great_expectations
    import pandas
    import polars
    import pyarrow

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": _memory_gib(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "pandas": pandas.__version__,
        "duckdb": duckdb.__version__,
        "great_expectations": great_expectations.__version__,
        "load_average_at_start": None if load is None else [round(x, 2) for x in load],
    }
