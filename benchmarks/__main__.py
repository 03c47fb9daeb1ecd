"""``python -m benchmarks run|backfill|report``: the benchmark harness's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import report

WORKDIR = Path("/tmp/loanrisk-bench")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="synth cache, data_roots")
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    parser.add_argument("--results-md", type=Path, default=report.RESULTS_MD)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="two-day benchmark, floor and baselines at one size")
    run.add_argument("--loans", type=int, default=100_000)
    run.add_argument("--no-baselines", action="store_true", help="skip the core-work comparison")
    _common(run)
    fill = sub.add_parser("backfill", help="run --days days in order at --loans loans")
    fill.add_argument("--loans", type=int, default=10_000)
    fill.add_argument("--days", type=int, default=7)
    _common(fill)
    rep = sub.add_parser("report", help="rebuild RESULTS.md from the result files")
    _common(rep)
    return parser.parse_args(argv)


def _save(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    """Run the command; exit 1 when a baseline's results differ from the pipeline's."""
    args = parse(argv)
    status = 0
    if args.command == "run":
        from benchmarks.harness import run_benchmark

        result = run_benchmark(args.loans, args.seed, args.workdir, not args.no_baselines)
        _save(result, args.results_dir / f"run-{args.loans}.json")
        core = result.get("core", {})
        if any(not core[k]["equal"] for k in ("pandas", "duckdb", "pipeline_core") if k in core):
            print("baseline results differ from the pipeline's: see the JSON", file=sys.stderr)
            status = 1
    elif args.command == "backfill":
        from benchmarks.harness import run_backfill

        result = run_backfill(args.loans, args.days, args.seed, args.workdir)
        _save(result, args.results_dir / f"backfill-{args.loans}x{args.days}.json")
    path = report.write(args.results_dir, args.results_md)
    print(f"wrote {path}")
    print("\n".join(report.targets(*report.load(args.results_dir))))
    return status


if __name__ == "__main__":
    sys.exit(main())
