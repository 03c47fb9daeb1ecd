"""The ``loanrisk`` argument parser: every command with its help, its examples and options, each
option with its help (an example where it takes a value); ``--debug`` before or after the
command; ``--version``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from loanrisk.cli import options, step, validate


def package_version() -> str:
    try:
        return version("loanrisk")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def command(
    sub, name: str, help_text: str, examples: str, func: Callable
) -> argparse.ArgumentParser:
    """A subcommand with its one-line help, its examples (shown by ``loanrisk NAME --help``)
    and ``--debug``."""
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text[0].upper() + help_text[1:] + ".",
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples.strip().splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.debug(parser)
    parser.set_defaults(func=func)
    return parser


def _synth(sub, func) -> None:
    synth = command(
        sub,
        "synth",
        "write realistic synthetic landing files (and their .done control files)",
        "loanrisk synth --start 2026-08-01 --days 30 --loans 5000 --out data/landing",
        func,
    )
    synth.add_argument(
        "--start", type=options.date, required=True, help="first business date; e.g. 2026-08-01"
    )
    synth.add_argument(
        "--days", type=options.positive, required=True, help="number of days; e.g. --days 30"
    )
    synth.add_argument(
        "--loans", type=options.positive, required=True, help="loans at the start; e.g. 5000"
    )
    synth.add_argument("--seed", type=int, default=7, help="random seed (default 7); e.g. 11")
    synth.add_argument(
        "--out", type=Path, required=True, help="landing folder to write; e.g. data/landing"
    )
    options.config(synth)


def _days(sub, commands: dict) -> None:
    run = command(
        sub,
        "run",
        "run every daily step for one business day",
        """
loanrisk run --date 2026-08-01
loanrisk run --date 2026-08-02 --accept-gate ROW_COUNT_CHANGE --reason "portfolio sale"
""",
        commands["run"],
    )
    run.add_argument("--date", type=options.date, required=True, help=options.DATE_HELP)
    run.add_argument(
        "--accept-gate",
        action="append",
        metavar="NAME",
        help="publish despite this batch gate (repeatable; needs --reason); "
        "e.g. --accept-gate OUTSTANDING_CHANGE",
    )
    run.add_argument(
        "--reason",
        help='why the accepted gate is safe (kept in the manifest); e.g. --reason "book sale"',
    )
    options.allow_gap(run)
    options.lock_options(run)
    options.common(run)

    fill = command(
        sub,
        "backfill",
        "run the days from --start to --end in order",
        "loanrisk backfill --start 2026-08-01 --end 2026-08-31",
        commands["backfill"],
    )
    fill.add_argument(
        "--start", type=options.date, required=True, help="first day; e.g. 2026-08-01"
    )
    fill.add_argument("--end", type=options.date, required=True, help="last day; e.g. 2026-08-31")
    options.allow_gap(fill)
    options.lock_options(fill)
    options.common(fill)

    again = command(
        sub,
        "reprocess",
        "rerun a corrected past day and every processed day after it",
        'loanrisk reprocess --date 2026-08-03 --reason "core resent the file"',
        commands["reprocess"],
    )
    again.add_argument("--date", type=options.date, required=True, help=options.DATE_HELP)
    again.add_argument(
        "--reason",
        help="why the day is restated (kept in each restated manifest's history); "
        'e.g. --reason "core resent the file"',
    )
    options.lock_options(again)
    options.common(again)


def _reports(sub, commands: dict) -> None:
    report = command(
        sub,
        "report",
        "rebuild the HTML risk report and the data catalog of a published day",
        "loanrisk report --date 2026-08-31",
        commands["report"],
    )
    report.add_argument("--date", type=options.date, required=True, help=options.DATE_HELP)
    options.lock_options(report)
    options.common(report)

    status = command(
        sub,
        "status",
        "list days published, gated, failed, missing and in doubt",
        "loanrisk status\nloanrisk status --json",
        commands["status"],
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    options.common(status)

    fit = command(
        sub,
        "fit-scorecard",
        "fit a new behaviour scorecard from stored history",
        "loanrisk fit-scorecard --from 2026-01-01 --to 2026-06-30",
        commands["fit-scorecard"],
    )
    fit.add_argument(
        "--from", dest="from_date", type=options.date, required=True, help="e.g. 2026-01-01"
    )
    fit.add_argument(
        "--to", dest="to_date", type=options.date, required=True, help="e.g. 2026-06-30"
    )
    fit.add_argument(
        "--out", type=Path, help="folder for the scorecard YAML and its report; e.g. models/"
    )
    options.common(fit)


def _setup(sub, commands: dict) -> None:
    demo = command(
        sub,
        "demo",
        "synthetic book + backfill + Airflow run + summary",
        "loanrisk demo\nloanrisk demo --loans 2000 --days 10",
        commands["demo"],
    )
    demo.add_argument(
        "--loans", type=options.positive, default=20_000, help="loans (default 20000); e.g. 2000"
    )
    demo.add_argument(
        "--days", type=options.positive, default=90, help="days (default 90); e.g. 10"
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7); e.g. 11")
    options.common(demo)

    init = command(
        sub,
        "init",
        "start a project folder: an editable copy of the default policy, a data_root, the DAGs",
        "loanrisk init /srv/loanrisk",
        commands["init"],
    )
    init.add_argument("dir", type=Path, metavar="DIR", help="the project folder; e.g. ./risk")
    init.add_argument(
        "--force", action="store_true", help="overwrite DIR/config files that already exist"
    )


def build(commands: dict[str, Callable]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loanrisk",
        description="Daily credit-risk batch pipeline (DESIGN.md §7).",
        epilog="examples:\n  loanrisk init risk && cd risk\n"
        "  loanrisk synth --start 2026-08-01 --days 3 --loans 1000 --out data/landing\n"
        "  loanrisk run --date 2026-08-01",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"loanrisk {package_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _synth(sub, commands["synth"])
    _days(sub, commands)
    _reports(sub, commands)
    step.add_parser(sub)
    validate.add_parser(sub)
    _setup(sub, commands)
    return parser
