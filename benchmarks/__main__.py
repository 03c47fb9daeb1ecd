"""``python -m benchmarks run|backfill|compare-shards|compare-sizes|report``: the benchmark
harness's command line (benchmarks/README.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import report

WORKDIR = Path("/tmp/loanrisk-bench")


def shards_setting(text: str) -> int | str:
    """``--shards``: ``auto`` or a whole number of shards (execution.yaml validates the range)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        message = f"--shards: auto or a whole number, not {text!r}"
        raise argparse.ArgumentTypeError(message) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="synth cache, data_roots")
    parser.add_argument("--results-dir", type=Path, default=report.RESULTS_DIR)
    parser.add_argument("--results-md", type=Path, default=report.RESULTS_MD)


def _memory(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-shard-memory-gib", type=float, help="execution.yaml's max_shard_memory_gib"
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="two-day benchmark, floor and baselines at one size")
    run.add_argument("--loans", type=int, default=100_000)
    run.add_argument("--no-baselines", action="store_true", help="skip the core-work comparison")
    run.add_argument("--shards", type=shards_setting, help="execution.yaml's shards: K or auto")
    _memory(run)
    _common(run)
    fill = sub.add_parser("backfill", help="run --days days in order at --loans loans")
    fill.add_argument("--loans", type=int, default=10_000)
    fill.add_argument("--days", type=int, default=7)
    _common(fill)
    shards = sub.add_parser("compare-shards", help="one size, several shards settings, ratios")
    shards.add_argument("--loans", type=int, default=1_000_000)
    shards.add_argument("--shards", type=shards_setting, nargs="+", default=[1, 8])
    _memory(shards)
    _common(shards)
    sizes = sub.add_parser("compare-sizes", help="one shards setting, several sizes, ratios")
    sizes.add_argument("--loans", type=int, nargs="+", default=[1_000_000, 30_000_000])
    sizes.add_argument("--shards", type=shards_setting, default="auto")
    _memory(sizes)
    _common(sizes)
    rep = sub.add_parser("report", help="rebuild RESULTS.md from the result files")
    _common(rep)
    return parser.parse_args(argv)


def _save(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def _run(args: argparse.Namespace) -> int:
    """``run``: one size, one setting; 1 when a baseline's results differ from the pipeline's."""
    from benchmarks.harness import Execution, run_benchmark

    execution = Execution(args.shards, args.max_shard_memory_gib)
    result = run_benchmark(args.loans, args.seed, args.workdir, not args.no_baselines, execution)
    _save(result, args.results_dir / f"run-{args.loans}{execution.tag}.json")
    core = result.get("core", {})
    if any(not core[k]["equal"] for k in ("pandas", "duckdb", "pipeline_core") if k in core):
        print("baseline results differ from the pipeline's: see the JSON", file=sys.stderr)
        return 1
    return 0


def _session(args: argparse.Namespace) -> None:
    from benchmarks.harness import Execution
    from benchmarks.session import file_name, run_session

    if args.command == "compare-shards":
        sizes = [args.loans]
        executions = [Execution(k, args.max_shard_memory_gib) for k in args.shards]
    else:
        sizes, executions = args.loans, [Execution(args.shards, args.max_shard_memory_gib)]
    result = run_session(args.command, sizes, executions, args.seed, args.workdir)
    _save(result, args.results_dir / file_name(args.command, sizes, executions))
    for line in report.session_lines(result):
        print(line)


def main(argv: list[str] | None = None) -> int:
    """Run the command and rebuild RESULTS.md; exit 1 when a baseline's results differ from
    the pipeline's."""
    args = parse(argv)
    status = 0
    if args.command == "run":
        status = _run(args)
    elif args.command == "backfill":
        from benchmarks.harness import run_backfill

        result = run_backfill(args.loans, args.days, args.seed, args.workdir)
        _save(result, args.results_dir / f"backfill-{args.loans}x{args.days}.json")
    elif args.command in ("compare-shards", "compare-sizes"):
        _session(args)
    path = report.write(args.results_dir, args.results_md)
    print(f"wrote {path}")
    print("\n".join(report.all_targets(args.results_dir)))
    return status


if __name__ == "__main__":
    sys.exit(main())
