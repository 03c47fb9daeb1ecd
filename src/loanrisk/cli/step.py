"""``loanrisk step NAME --date D``: one step of the registry, as an Airflow task runs it (for
a rerun of one step, or to run the pipeline from another scheduler)."""

from __future__ import annotations

import argparse

from loanrisk.cli import options
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import UsageError
from loanrisk.pipeline.registry import STEPS, DayRun


def cmd_step(args: argparse.Namespace) -> None:
    from loanrisk.pipeline.runner import run_step

    entry = STEPS[args.name]
    part = {}
    if entry.per in ("feed", "feed_shard"):
        part["feed"] = args.feed
    if entry.per_shard:
        part["shard"] = args.shard
    if missing := [name for name, value in part.items() if value is None]:
        needed = " and ".join(f"--{name}" for name in missing)
        raise UsageError(
            f"step {args.name} runs per {entry.per.replace('_', ' and ')}: give {needed}"
        )
    settings = options.settings(args)
    run = DayRun(
        accepted=options.accepted_gates(args),
        allow_gap=args.allow_gap,
        recomputed=tuple(args.recomputed or ()),
    )
    if entry.locked:
        with options.locked(args, settings, args.date, f"step {args.name}"):
            run_step(args.name, args.date, settings, run, **part)
    else:
        run_step(args.name, args.date, settings, run, **part)
    print(f"{args.date}: {args.name} done")


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "step",
        help="run one step of the pipeline for one business day",
        description="Run one step. Steps, in daily order: " + ", ".join(STEPS) + ".",
        epilog="examples:\n  loanrisk step ingest --date 2026-08-01 --feed loan_snapshot\n"
        "  loanrisk step age_loans_shard --date 2026-08-01 --shard 0\n"
        "  loanrisk step validate_shard --date 2026-08-01 --feed events --shard 1\n"
        "  loanrisk step finalize_run --date 2026-08-01",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.debug(parser)
    parser.add_argument(
        "name", choices=list(STEPS), metavar="NAME", help="the step to run; e.g. score_loans"
    )
    parser.add_argument("--date", type=options.date, required=True, help=options.DATE_HELP)
    parser.add_argument(
        "--feed", choices=FEEDS, help="the feed (ingest, validate); e.g. --feed events"
    )
    parser.add_argument(
        "--shard", type=int, help="the shard (age_loans_shard, ...); e.g. --shard 0"
    )
    parser.add_argument(
        "--recomputed",
        type=options.date,
        action="append",
        metavar="DATE",
        help="a later day recompute_later_days rebuilt (finalize_run, build_report; "
        "repeatable); e.g. --recomputed 2026-08-02",
    )
    parser.add_argument(
        "--accept-gate",
        action="append",
        metavar="NAME",
        help="accept a batch gate (validate); e.g. --accept-gate ROW_COUNT_CHANGE",
    )
    parser.add_argument(
        "--reason", help='why the accepted gate is safe (kept in the manifest); e.g. "book sale"'
    )
    options.allow_gap(parser)
    options.lock_options(parser)
    options.common(parser)
    parser.set_defaults(func=cmd_step)
