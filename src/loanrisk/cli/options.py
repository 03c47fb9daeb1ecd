"""Options and helpers the ``loanrisk`` commands share: dates, counts, settings, the run lock,
accepted gates."""

from __future__ import annotations

import argparse
import datetime as dt
from contextlib import contextmanager
from pathlib import Path

from loanrisk.errors import ACCEPTABLE_GATES, UsageError
from loanrisk.pipeline.orchestration import parse_business_date


def date(value: str) -> dt.date:
    try:
        return parse_business_date(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


def settings(args: argparse.Namespace, landing: bool = False):
    """The settings of ``--config`` / ``--data-root``; the process's file modes set from them,
    and for a run (``landing``) the landing folder checked before anything is written."""
    from loanrisk.config import load_settings
    from loanrisk.lake.storage import enter_data_root

    loaded = load_settings(args.config, args.data_root)
    enter_data_root(loaded, landing)
    return loaded


def accepted_gates(args: argparse.Namespace) -> dict[str, str]:
    gates = args.accept_gate or []
    if gates and not (args.reason or "").strip():
        raise UsageError('--accept-gate needs --reason "why it is safe to publish"')
    unknown = sorted(set(gates) - set(ACCEPTABLE_GATES))
    if unknown:
        raise UsageError(f"--accept-gate {unknown[0]}: not one of {', '.join(ACCEPTABLE_GATES)}")
    return dict.fromkeys(gates, args.reason.strip()) if gates else {}


DATE_HELP = "the business date; e.g. --date 2026-08-01"
CONFIG_HELP = (
    "config folder (default: $LOANRISK_CONFIG, else ./config, else the policy shipped in the "
    "package); e.g. --config /srv/loanrisk/config"
)


def config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help=CONFIG_HELP)


def common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        help="overrides config's data_root (a path, a file:// URL or s3://bucket/prefix); "
        "e.g. --data-root /srv/data",
    )
    config(parser)


def debug(parser: argparse.ArgumentParser) -> None:
    """``--debug`` after the command too (``loanrisk run --date D --debug``)."""
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def locked(args: argparse.Namespace, settings, business_date, purpose: str):
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


def lock_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another run of this data_root to finish (default: refuse); "
        "e.g. --lock-timeout 600",
    )
    parser.add_argument(
        "--break-stale-lock",
        action="store_true",
        help="take over the run lock left by a run that died (check its outputs first)",
    )


def allow_gap(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-gap",
        action="store_true",
        help="continue delinquency history from the latest stored day when the day before the "
        "(first) date was never processed (recorded in the manifest)",
    )


#: Commands that write under data_root: on an ``s3://`` one they run on a working copy.
WRITERS = ("run", "backfill", "reprocess", "report", "fit-scorecard", "demo", "step")


def _days(args: argparse.Namespace) -> tuple[str, ...]:
    """The business days a command works on (pulled even while not committed)."""
    if getattr(args, "date", None):
        return (str(args.date),)
    if getattr(args, "start", None) and getattr(args, "end", None):
        count = (args.end - args.start).days + 1
        return tuple(str(args.start + dt.timedelta(days=n)) for n in range(max(count, 0)))
    return ()


@contextmanager
def object_store(args: argparse.Namespace):
    """An ``s3://`` data_root (``--data-root`` or pipeline.yaml's): a writing command runs on a
    local working copy, locked, pulled and pushed (``loanrisk.lake.working_copy``); ``status``
    reads the committed days. ``args.data_root`` names the local folder inside the block."""
    from loanrisk.lake.working_copy import object_url, reader_copy, working_copy

    command = getattr(args.func, "__name__", "").removeprefix("cmd_").replace("_", "-")
    named = command in (*WRITERS, "status") and hasattr(args, "data_root")
    url = object_url(args.config, args.data_root) if named else None
    if url is None:
        yield
        return
    days = _days(args)
    copy = (
        reader_copy(url)
        if command == "status"
        else working_copy(
            url,
            args.config,
            business_date="..".join(sorted({days[0], days[-1]})) if days else "-",
            purpose=command,
            timeout=getattr(args, "lock_timeout", 0.0),
            break_stale=getattr(args, "break_stale_lock", False),
            days=days,
        )
    )
    with copy as local:
        args.data_root = str(local)
        yield
