"""RESULTS.md's sharded figures (issue 24, point 7): runs with an ``execution.yaml`` setting
(``run-<loans>-k<K>.json``), and sessions (``compare-shards-*.json``, ``compare-sizes-*.json``)
whose ratios were measured in one session; the targets judged on them."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.session import FIGURES, summary

GIB = 1024
TEN_MILLION, THIRTY_MILLION, ONE_MILLION = 10_000_000, 30_000_000, 1_000_000
#: 10M loans with ``shards: auto``: the largest process (MiB) and run_day's wall (s) of day 2.
TEN_M_PEAK_MIB, TEN_M_WALL_S = 4 * GIB, 170
#: 30M loans: day 2's CPU seconds per million loans at most this many times the 1M figure.
THIRTY_M_COST_RATIO = 1.15
SESSIONS = ("compare-shards", "compare-sizes")


def is_sharded(run: dict) -> bool:
    """A run with a setting other than the shipped K = 1 (results of K = 1 keep old names)."""
    execution = run.get("execution") or {}
    return execution.get("shards") not in (None, 1) or bool(execution.get("max_shard_memory_gib"))


def load(results_dir: Path) -> tuple[list[dict], list[dict]]:
    """(sharded runs, sessions) of the JSON files in ``results_dir``."""
    sharded, sessions = [], []
    for path in sorted(Path(results_dir).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kind") == "run" and is_sharded(data):
            sharded.append(data)
        elif data.get("kind") in SESSIONS:
            sessions.append(data)
    return sharded, sessions


def setting(execution: dict) -> str:
    """``shards: 8`` or ``shards: auto (max 4 GiB)``."""
    text = f"shards: {execution.get('shards') or 'shipped (1)'}"
    memory = execution.get("max_shard_memory_gib")
    return text + (f" (max_shard_memory_gib {memory:g})" if memory else "")


def _peak(day: dict) -> str:
    def mib(value):
        return "n/a" if value is None else f"{value:,.0f}"

    own, child = mib(day["day_process_mib"]), mib(day["largest_child_mib"])
    return f"{mib(day['largest_process_mib'])} ({own} / {child})"


HEADER = [
    "| loans | setting | day | K | rows | run_day wall / CPU s | largest process peak MiB "
    "(day process / largest child) | CPU s per 1M loans | wall s per 1M loans |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|",
]


def figure_rows(entry: dict) -> list[str]:
    """One table row per day of a run's summary."""
    rows = []
    for number, day in enumerate(entry["days"], start=1):
        rows.append(
            f"| {entry['loans']:,} | {setting(entry['execution'])} | {number} ({day['date']}) "
            f"| {day['shards'] or 'n/a'} | {day['rows']:,} | {day['wall_s']:.1f} / "
            f"{day['cpu_s']:.1f} | {_peak(day)} | {day['cpu_s_per_million']:.2f} "
            f"| {day['wall_s_per_million']:.2f} |"
        )
    return rows


def ratio_rows(session: dict) -> list[str]:
    """Day-2 ratios of each later run over the session's first."""
    first = session["summaries"][0]
    base = f"{first['loans']:,}, {setting(first['execution'])}"
    lines = [
        f"Day-2 ratios over {base} (same session):",
        "",
        "| loans | setting | " + " | ".join(key for key, _ in FIGURES) + " |",
        "|---:|---|" + "---:|" * len(FIGURES),
    ]
    for ratio in session["ratios"]:
        values = [ratio.get(k) for k, _ in FIGURES]
        cells = " | ".join("n/a" if v is None else f"{v:.2f}x" for v in values)
        lines.append(f"| {ratio['loans']:,} | {setting(ratio['execution'])} | {cells} |")
    return lines


def session_lines(session: dict) -> list[str]:
    """A session's figures side by side and its ratios."""
    load_start = session["machine"].get("load_average_at_start")
    load_end = session.get("machine_at_end", {}).get("load_average_at_start")
    lines = [f"Load average at start {load_start}, at end {load_end}.", "", *HEADER]
    for entry in session["summaries"]:
        lines += figure_rows(entry)
    return [*lines, "", *ratio_rows(session)]


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**missed**")


def _ten_million(entries: list[dict]) -> str:
    what = f"- 10M loans, shards: auto, largest process <= 4 GiB and wall <= {TEN_M_WALL_S} s"
    found = [
        e for e in entries if e["loans"] == TEN_MILLION and e["execution"].get("shards") == "auto"
    ]
    if not found:
        return f"{what}: not measured"
    entry = found[-1]
    peak = max(d["largest_process_mib"] for d in entry["days"])
    day = entry["days"][-1]
    ok = peak <= TEN_M_PEAK_MIB and day["wall_s"] <= TEN_M_WALL_S
    return (
        f"{what}: {_verdict(ok)}: largest process {peak / GIB:.2f} GiB, "
        f"day 2 {day['wall_s']:.1f} s (K = {day['shards']})"
    )


def _thirty_million(sessions: list[dict]) -> str:
    what = "- 30M loans completes, CPU s per 1M loans within 15% of 1M's (same session)"
    for session in reversed(sessions):
        sizes = [s["loans"] for s in session["summaries"]]
        if session["kind"] != "compare-sizes" or sizes[0] != ONE_MILLION:
            continue
        found = [r for r in session["ratios"] if r["loans"] == THIRTY_MILLION]
        if found:
            ratio = found[0]["cpu_s_per_million"]
            fig = f"{ratio:.2f}x the 1M figure (wall {found[0]['wall_s_per_million']:.2f}x)"
            return f"{what}: {_verdict(ratio <= THIRTY_M_COST_RATIO)}: {fig}"
    return f"{what}: not measured"


def _k1_k8(sessions: list[dict]) -> str:
    what = "- K = 1 vs K = 8 at 1M loans side by side"
    for session in reversed(sessions):
        first = session["summaries"][0]
        found = [r for r in session["ratios"] if r["execution"].get("shards") == 8]
        if session["kind"] == "compare-shards" and first["loans"] == ONE_MILLION and found:
            r = found[0]
            floor = r.get("wall_over_floor") or 0
            return (
                f"{what}: measured: K = 8 / K = 1, largest process {r['largest_process_mib']:.2f}x,"
                f" wall {r['wall_s']:.2f}x ({floor:.2f}x over each run's floor),"
                f" CPU {r['cpu_s']:.2f}x (day 2)"
            )
    return f"{what}: not measured"


def targets(sharded: list[dict], sessions: list[dict]) -> list[str]:
    """The point-7 targets: met, missed or not measured, with the figure."""
    entries = [summary(run) for run in sharded]
    entries += [e for s in sessions for e in s["summaries"]]
    return [_ten_million(entries), _thirty_million(sessions), _k1_k8(sessions)]


NOTE = """\
Each day runs in a process of its own on a copy of the config whose `execution.yaml` has the
setting; K is the one the day recorded (its manifest's `execution`). Largest process: the peak
RSS of the day's process (VmHWM, the largest of its steps') or of its largest descendant
(`RUSAGE_CHILDREN`: GX's forked workers, shard steps run in children; a fork's pages shared
with its parent included), whichever is larger. Wall and CPU: run_day's, descendants'
CPU included. A session runs its settings or sizes one after another on this shared machine:
its load average is shown, and `wall_over_floor` divides each run's wall by its floor (the
same CSVs to Parquet, taken right after the run) to set the machine's load aside."""


def section(sharded: list[dict], sessions: list[dict]) -> list[str]:
    """The sharded runs table and each session's figures and ratios."""
    parts = ["", "## Shards (issue 24, point 7)", "", NOTE] if sharded or sessions else []
    if sharded:
        parts += ["", "### Sharded runs (`run --shards`)", "", *HEADER]
        for run in sharded:
            parts += figure_rows(summary(run))
    for session in sessions:
        sizes = ", ".join(f"{s['loans']:,}" for s in session["summaries"])
        parts += ["", f"### Session `{session['kind']}`: {sizes} loans", ""]
        parts += session_lines(session)
    return parts
