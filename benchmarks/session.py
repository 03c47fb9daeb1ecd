"""Several benchmark runs in one session, their figures side by side with ratios measured in
the same session (this shared machine's speed varies 2x from one day to the next, so a ratio
of figures taken on different days says little).

``compare-shards``: one size, several ``execution.yaml`` settings (K = 1 against K = 8).
``compare-sizes``: one setting, several sizes (the cost per million loans at 30M against 1M).
Runs go one after another, each day in a process of its own (``harness.run_one_day``); the
baselines are not run (``python -m benchmarks run`` has them). Figures are judged on day 2, a
steady-state day, as RESULTS.md's targets are.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import Execution, run_benchmark

#: Figures compared, each as (key, what it is); ratios are later run / first run.
FIGURES = (
    ("largest_process_mib", "peak RSS of the largest process (day process or a descendant)"),
    ("wall_s", "wall seconds of run_day"),
    ("cpu_s", "CPU seconds of run_day, its process's descendants included"),
    ("cpu_s_per_million", "CPU seconds per million loans of the day"),
    ("wall_s_per_million", "wall seconds per million loans of the day"),
    (
        "wall_over_floor",
        "wall seconds over the run's floor (its CSVs to Parquet, taken after day 2)",
    ),
)


def day_figures(day: dict, loans: int, floor_wall_s: float) -> dict:
    """One day's figures: run_day's wall and CPU seconds (waited-for descendants included;
    the process's start and imports are in ``process_wall_s``), the peaks, K, rows, and the
    cost per million loans of the day."""
    process, cost = day["process"], day["end_to_end"]
    rows = day["rows"]["rows_in"] or loans
    peaks = day.get("peaks", {})
    largest = peaks.get("largest_process_mib", process["peak_rss_mib"])
    return {
        "date": day["date"],
        "rows": rows,
        "shards": (day.get("shards") or {}).get("shards"),
        "wall_s": cost["wall_s"],
        "cpu_s": cost["cpu_s"],
        "process_wall_s": process["wall_s"],
        "largest_process_mib": largest,
        "day_process_mib": peaks.get("day_process_mib"),
        "largest_child_mib": peaks.get("largest_child_mib"),
        "cpu_s_per_million": round(cost["cpu_s"] / rows * 1e6, 3),
        "wall_s_per_million": round(cost["wall_s"] / rows * 1e6, 3),
        # the floor is taken right after the run: the ratio sets aside how busy the shared
        # machine was during it, which a wall ratio of two runs does not
        "wall_over_floor": round(cost["wall_s"] / floor_wall_s, 3),
    }


def summary(run: dict) -> dict:
    """A run's setting, size and per-day figures (the whole run stays in ``runs``)."""
    floor = run["floor"]["all_feeds_text"]["wall_s"]
    return {
        "loans": run["loans"],
        "execution": run["execution"],
        "floor_wall_s": floor,
        "days": [day_figures(day, run["loans"], floor) for day in run["days"]],
    }


def ratios(summaries: list[dict]) -> list[dict]:
    """Each later run's day-2 figures over the first run's (same session)."""
    first = summaries[0]["days"][-1]
    out = []
    for entry in summaries[1:]:
        day = entry["days"][-1]
        figures = {k: round(day[k] / first[k], 3) if first[k] else None for k, _ in FIGURES}
        out.append({"loans": entry["loans"], "execution": entry["execution"], **figures})
    return out


def run_session(
    kind: str, sizes: list[int], executions: list[Execution], seed: int, workdir: Path
) -> dict:
    """Every (size, setting) pair run in this order, then summaries and ratios."""
    from benchmarks.measure import machine

    started = machine()
    runs = [
        run_benchmark(loans, seed, workdir, baselines=False, execution=execution)
        for loans in sizes
        for execution in executions
    ]
    summaries = [summary(run) for run in runs]
    return {
        "kind": kind,
        "seed": seed,
        "machine": started,
        "machine_at_end": machine(),
        "figures": dict(FIGURES),
        "summaries": summaries,
        "ratios": ratios(summaries),
        "runs": runs,
    }


def file_name(kind: str, sizes: list[int], executions: list[Execution]) -> str:
    """``compare-shards-1000000-k1-k8.json``, ``compare-sizes-1000000-30000000-kauto.json``."""
    tags = [e.tag or "-k1" for e in executions]
    return f"{kind}-{'-'.join(str(s) for s in sizes)}{''.join(tags)}.json"
