"""``loanrisk`` command line (DESIGN.md §7). Failures print one line and exit non-zero."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loanrisk.errors import ACCEPTABLE_GATES, LoanriskError, UsageError
from loanrisk.pipeline.orchestration import parse_business_date

EXIT_FAILED = 1
EXIT_USAGE = 2


def _date(value: str) -> dt.date:
    try:
        return parse_business_date(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


def _settings(args: argparse.Namespace):
    from loanrisk.config import load_settings

    return load_settings(args.config, args.data_root)


def cmd_synth(args: argparse.Namespace) -> None:
    from loanrisk.synth import generate

    started = time.perf_counter()
    summary = generate(args.start, args.days, args.loans, args.seed, args.out, args.config)
    print(
        f"wrote {len(summary.files)} files for {args.days} day(s) to {args.out} "
        f"in {time.perf_counter() - started:.1f}s"
    )


def cmd_run(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.stages import lake_of, run_day

    settings = _settings(args)
    with _locked(args, settings, args.date, "run"):
        manifest = run_day(args.date, settings, _accepted_gates(args), allow_gap=args.allow_gap)
    print(
        f"{args.date}: published {manifest['rows_out']} loans "
        f"(quarantined {manifest['rows_quarantined']}); "
        f"manifest {lake_of(settings).run_manifest(args.date)}"
    )


def _accepted_gates(args: argparse.Namespace) -> dict[str, str]:
    gates = args.accept_gate or []
    if gates and not (args.reason or "").strip():
        raise UsageError('--accept-gate needs --reason "why it is safe to publish"')
    unknown = sorted(set(gates) - set(ACCEPTABLE_GATES))
    if unknown:
        raise UsageError(f"--accept-gate {unknown[0]}: not one of {', '.join(ACCEPTABLE_GATES)}")
    return dict.fromkeys(gates, args.reason.strip()) if gates else {}


def cmd_backfill(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.batch import backfill

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    settings = _settings(args)
    with _locked(args, settings, f"{args.start}..{args.end}", "backfill"):
        backfill(settings, args.start, args.end, allow_gap=args.allow_gap)


def cmd_reprocess(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.batch import reprocess

    settings = _settings(args)
    with _locked(args, settings, args.date, "reprocess"):
        reprocess(settings, args.date)


def cmd_report(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.stages import build_report

    report = build_report(args.date, _settings(args))
    print(f"{args.date}: risk report {report['path']}")


def cmd_demo(args: argparse.Namespace) -> None:
    from loanrisk.cli.demo import demo

    demo(_settings(args), loans=args.loans, days=args.days, seed=args.seed)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", help="overrides config's data_root (a path or a file:// URL)"
    )
    parser.add_argument("--config", type=Path, help="config folder (default ./config)")


def cmd_status(args: argparse.Namespace) -> None:
    import json

    from rich.console import Console
    from rich.table import Table

    from loanrisk.lake.status import day_statuses
    from loanrisk.pipeline.stages import lake_of

    statuses = day_statuses(lake_of(_settings(args)))
    if args.json:
        print(json.dumps(statuses, indent=2))
        return
    colours = {"published": "green", "gated": "yellow", "failed": "red"}
    table = Table("date", "status", "reason")
    for day in statuses:
        colour = colours.get(day["status"], "cyan")
        table.add_row(day["date"], f"[{colour}]{day['status']}[/]", day["reason"])
    console = Console(soft_wrap=True)
    console.print(table)
    counts = {}
    for day in statuses:
        counts[day["status"]] = counts.get(day["status"], 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no days")


def cmd_fit_scorecard(args: argparse.Namespace) -> None:
    from loanrisk.lake.storage import lake_of
    from loanrisk.modelling.fit_scorecard import fit_scorecard

    if args.to_date < args.from_date:
        raise UsageError(f"--to {args.to_date} is before --from {args.from_date}")
    settings = _settings(args)
    out = args.out or lake_of(settings).models_dir
    fitted = fit_scorecard(settings, args.from_date, args.to_date, out)
    for sample in ("train", "holdout"):
        figures = fitted[sample]
        print(
            f"{sample}: {figures['rows']:,} observations, {figures['defaults']:,} defaults, "
            f"Gini {figures['gini']:.3f}, KS {figures['ks']:.3f}"
        )
    print(f"scorecard {fitted['scorecard']}\nreport    {fitted['report']}")


def _locked(args: argparse.Namespace, settings, business_date, purpose: str):
    """The data_root's run lock: a second run refuses (or waits ``--lock-timeout``); a lock
    left by a run that died is reported unless ``--break-stale-lock``."""
    from loanrisk.lake.locks import run_lock
    from loanrisk.lake.storage import lake_of

    lake = lake_of(settings)
    return run_lock(
        lake,
        business_date,
        purpose=purpose,
        timeout=args.lock_timeout,
        break_stale=args.break_stale_lock,
    )


def _lock_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run of this data_root to finish (default: refuse)",
    )
    parser.add_argument(
        "--break-stale-lock",
        action="store_true",
        help="take over the run lock left by a run that died (check its outputs first)",
    )


def _allow_gap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-gap",
        action="store_true",
        help="continue delinquency history from the latest stored day when the day before the "
        "(first) date was never processed (recorded in the manifest)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loanrisk", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="write realistic synthetic landing files")
    synth.add_argument("--start", type=_date, required=True)
    synth.add_argument("--days", type=_positive, required=True)
    synth.add_argument("--loans", type=_positive, required=True)
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--config", type=Path, help="config folder (default ./config)")
    synth.set_defaults(func=cmd_synth)

    run = sub.add_parser("run", help="run every stage for one business day")
    run.add_argument("--date", type=_date, required=True)
    run.add_argument(
        "--accept-gate",
        action="append",
        metavar="NAME",
        help="publish despite this batch gate (repeatable; needs --reason)",
    )
    run.add_argument("--reason", help="why the accepted gate is safe (kept in the manifest)")
    _allow_gap(run)
    _lock_options(run)
    _common(run)
    run.set_defaults(func=cmd_run)

    fill = sub.add_parser("backfill", help="run the days from --start to --end in order")
    fill.add_argument("--start", type=_date, required=True)
    fill.add_argument("--end", type=_date, required=True)
    _allow_gap(fill)
    _lock_options(fill)
    _common(fill)
    fill.set_defaults(func=cmd_backfill)

    again = sub.add_parser(
        "reprocess", help="rerun a corrected past day and every processed day after it"
    )
    again.add_argument("--date", type=_date, required=True)
    _lock_options(again)
    _common(again)
    again.set_defaults(func=cmd_reprocess)

    report = sub.add_parser("report", help="rebuild the HTML risk report of a published day")
    report.add_argument("--date", type=_date, required=True)
    _common(report)
    report.set_defaults(func=cmd_report)

    status = sub.add_parser("status", help="list days published, gated, failed and missing")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    _common(status)
    status.set_defaults(func=cmd_status)

    fit = sub.add_parser("fit-scorecard", help="fit a new behaviour scorecard from stored history")
    fit.add_argument("--from", dest="from_date", type=_date, required=True)
    fit.add_argument("--to", dest="to_date", type=_date, required=True)
    fit.add_argument("--out", type=Path, help="folder for the scorecard YAML and its report")
    _common(fit)
    fit.set_defaults(func=cmd_fit_scorecard)

    demo = sub.add_parser("demo", help="synthetic book + backfill + Airflow run + summary")
    demo.add_argument("--loans", type=_positive, default=20_000)
    demo.add_argument("--days", type=_positive, default=90)
    demo.add_argument("--seed", type=int, default=7)
    _common(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or bool(os.environ.get("LOANRISK_DEBUG"))
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except LoanriskError as exc:
        if debug:
            raise
        print(f"loanrisk: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("loanrisk: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the user gets one line; --debug shows the traceback
        if debug:
            raise
        print(
            f"loanrisk: internal error: {type(exc).__name__}: {_first_line(exc)} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0
