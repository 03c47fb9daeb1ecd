"""``loanrisk`` command line (DESIGN.md §7). Failures print one line and exit non-zero."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from loanrisk.cli import options
from loanrisk.errors import LoanriskError, UsageError, one_line
from loanrisk.lake.modes import owner_only

EXIT_FAILED = 1
EXIT_USAGE = 2


def cmd_synth(args: argparse.Namespace) -> None:
    from loanrisk.synth import generate

    started = time.perf_counter()
    summary = generate(
        args.start, args.days, args.loans, args.seed, args.out, args.config, control_files=True
    )
    print(
        f"wrote {len(summary.files)} files for {args.days} day(s) to {args.out} "
        f"in {time.perf_counter() - started:.1f}s"
    )


def cmd_run(args: argparse.Namespace) -> None:
    from loanrisk.lake.storage import lake_of
    from loanrisk.pipeline.batch import run_one_day

    settings = options.settings(args, landing=True)
    with options.locked(args, settings, args.date, "run"):
        gates = options.accepted_gates(args)
        manifest = run_one_day(settings, args.date, accepted=gates, allow_gap=args.allow_gap)
    print(
        f"{args.date}: published {manifest['rows_out']} loans "
        f"(quarantined {manifest['rows_quarantined']}); "
        f"manifest {lake_of(settings).run_manifest(args.date)}"
    )


def cmd_backfill(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.batch import backfill

    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    settings = options.settings(args, landing=True)
    with options.locked(args, settings, f"{args.start}..{args.end}", "backfill"):
        backfill(settings, args.start, args.end, allow_gap=args.allow_gap)


def cmd_reprocess(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.batch import reprocess

    settings = options.settings(args, landing=True)
    with options.locked(args, settings, args.date, "reprocess"):
        reprocess(settings, args.date, reason=args.reason)


def cmd_report(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.runner import run_step

    settings = options.settings(args)
    with options.locked(args, settings, args.date, "report"):
        report = run_step("build_report", args.date, settings)
    print(f"{args.date}: risk report {report['path']}\ndata catalog {report['catalog']}")


def cmd_demo(args: argparse.Namespace) -> None:
    from loanrisk.cli.demo import demo

    demo(options.settings(args), loans=args.loans, days=args.days, seed=args.seed)


def cmd_status(args: argparse.Namespace) -> None:
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from loanrisk.lake.locks import stale_holder
    from loanrisk.lake.status import day_statuses
    from loanrisk.lake.storage import lake_of

    lake = lake_of(options.settings(args))
    statuses = day_statuses(lake)
    if args.json:
        print(json.dumps(statuses, indent=2))
        return
    colours = {"published": "green", "gated": "yellow", "failed": "red"}
    table = Table("date", "status", "reason")
    for day in statuses:
        colour = colours.get(day["status"], "cyan")
        # A reason carries what a file or an operator wrote: shown as text, never as markup.
        table.add_row(day["date"], f"[{colour}]{day['status']}[/]", escape(day["reason"]))
    console = Console(soft_wrap=True)
    console.print(table)
    counts = {}
    for day in statuses:
        counts[day["status"]] = counts.get(day["status"], 0) + 1
    console.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no days")
    if (dead := stale_holder(lake)) is not None:
        console.print(
            f"[red]stale run lock[/]: left by {escape(dead.describe())}; check its days, "
            "then rerun with --break-stale-lock (its reruns are put back first)"
        )


def cmd_fit_scorecard(args: argparse.Namespace) -> None:
    from loanrisk.lake.storage import lake_of
    from loanrisk.modelling.fit_scorecard import fit_scorecard

    if args.to_date < args.from_date:
        raise UsageError(f"--to {args.to_date} is before --from {args.from_date}")
    settings = options.settings(args)
    out = args.out or lake_of(settings).models_dir
    fitted = fit_scorecard(settings, args.from_date, args.to_date, out)
    for sample in ("train", "holdout"):
        figures = fitted[sample]
        print(
            f"{sample}: {figures['rows']:,} observations, {figures['defaults']:,} defaults, "
            f"Gini {figures['gini']:.3f}, KS {figures['ks']:.3f}"
        )
    print(f"scorecard {fitted['scorecard']}\nreport    {fitted['report']}")


def cmd_init(args: argparse.Namespace) -> None:
    from loanrisk.cli.init import init_project

    print(init_project(args.dir, force=args.force))


COMMANDS = {
    "synth": cmd_synth,
    "run": cmd_run,
    "backfill": cmd_backfill,
    "reprocess": cmd_reprocess,
    "report": cmd_report,
    "status": cmd_status,
    "fit-scorecard": cmd_fit_scorecard,
    "demo": cmd_demo,
    "init": cmd_init,
}


def build_parser() -> argparse.ArgumentParser:
    from loanrisk.cli.parser import build

    this = sys.modules[__name__]  # looked up now: a test may have replaced a command
    return build({name: getattr(this, f.__name__) for name, f in COMMANDS.items()})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False) or bool(os.environ.get("LOANRISK_DEBUG"))
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        # every file written is owner-only whatever the caller's umask; an s3:// data_root
        # runs on a local working copy (loanrisk.lake.working_copy)
        with owner_only(), options.object_store(args):
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
            f"loanrisk: internal error: {one_line(exc)} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0
