"""``loanrisk validate FILE``: check one landing file against its data contract, writing nothing.

For the lending core's team, to test an extract before sending it. The file goes through the
same code as a day's ``ingest`` and ``validate`` steps (``quality.parsing`` reads it and applies
the file gates and its control file; ``validation.feed_rules``, ``flag_rows`` and
``validation_stage.checked_rows`` / ``feed_report`` / ``day_gates`` judge its rows), in memory:
no staging, lake, ``gx/`` results, logs or run records.

Great Expectations is not run. The pipeline runs it as the engine of record and stops the day
(VALIDATION_MISMATCH) unless its counts equal the Polars rules' counts, which are the ones the
gates judge; so the Polars counts are the verdict GX would confirm. A GX run, even in an
ephemeral context, would add its start-up (seconds) to a check meant to be quick and repeated.

Without ``--data-root`` only the file gates and the quarantine share are judged; with it, the
day-over-day gates (row count, outstanding balance) and the continuity warnings are judged
against that data_root's latest published day before the file's date, read only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

from loanrisk.cli import options
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import GateError, LandingFileError, UsageError

_DAY = r"(\d{4}-\d{2}-\d{2})"


def _pattern(landing_pattern: str) -> re.Pattern[str]:
    """``loans_{snapshot_date}.csv`` as a regex matching its CSV or Parquet file name."""
    stem = landing_pattern.removesuffix(".csv")
    head, _, tail = (re.escape(part) for part in stem.partition("{snapshot_date}"))
    return re.compile(f"^{head}{_DAY}{tail}\\.(csv|parquet)$")


def feed_of(path: Path, contracts_dir: Path, feed: str | None, day: dt.date | None):
    """The contract and business date of a landing file: from its name, unless ``--feed`` /
    ``--date`` say them."""
    from loanrisk.quality.contracts import load_contract

    contracts = [load_contract(contracts_dir, name) for name in ([feed] if feed else FEEDS)]
    for contract in contracts:
        found = _pattern(contract.landing_pattern or "").match(path.name)
        if found or (feed and day):
            return contract, day or dt.date.fromisoformat(found.group(1))
    names = ", ".join(c.landing_pattern or c.name for c in contracts)
    raise UsageError(
        f"{path.name}: the name matches no landing file pattern ({names}); give --feed and --date"
    )


def _read_text(path: Path, contract, settings):
    """The file as text, as ``ingest`` reads it; a file gate as the ``GateError`` it raises."""
    from loanrisk.quality.parsing import read_text_and_facts

    required = settings.pipeline.require_control_file and contract.required_feed
    try:
        return read_text_and_facts(path, contract, settings.pipeline.input_encoding, required)[0]
    except LandingFileError as exc:
        raise GateError(exc.gate, path.name, exc.reason) from None


def check_file(path: Path, contract, day: dt.date, settings, data_root: bool) -> tuple:
    """``(report, gates)`` of ``path`` as the day's ``validate`` step would judge it."""
    from loanrisk.lake.runs import previous_published
    from loanrisk.lake.storage import lake_of
    from loanrisk.pipeline.validation_stage import checked_rows, day_gates, feed_report
    from loanrisk.quality.casting import type_text
    from loanrisk.quality.parsing import extra_columns
    from loanrisk.quality.validation import derived_columns, feed_rules, flag_rows

    text = _read_text(path, contract, settings)
    rules = feed_rules(contract, day, settings)
    flagged = flag_rows(type_text(text, contract), rules, derived_columns(contract, settings))
    checked = checked_rows(flagged, rules, contract, day, path.name)
    lake = lake_of(settings)
    previous = previous_published(lake, day) if data_root else None
    staged = {"extra_columns": extra_columns(path, contract)}
    report = feed_report(lake, settings, contract.name, day, staged, previous, checked)
    return report, day_gates(settings, contract.name, report, previous, accepted={})


def _counts(title: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return [f"{title}: none"]
    width = max(len(code) for code in counts)
    return [f"{title}:"] + [f"  {code:<{width}}  {n:>9,}" for code, n in sorted(counts.items())]


def summary(path: Path, contract, day: dt.date, report: dict, gates: list) -> str:
    """What ``validate FILE`` prints: counts by reason code (never a value of the file)."""
    lines = [
        f"{path.name}: contract {contract.name} v{contract.version}, business date {day}",
        f"rows: {report['rows_in']:,} in, {report['rows_valid']:,} valid, "
        f"{report['rows_quarantined']:,} quarantined",
        *_counts("quarantine reasons", report["reasons"]),
        *_counts("warnings", report["warnings"]),
        "gates:",
        *(f"  {g.gate}: {g.status} ({g.detail})" for g in gates),
    ]
    return "\n".join(lines)


def cmd_validate(args: argparse.Namespace) -> None:
    from loanrisk.config import load_settings
    from loanrisk.quality.gates import raise_on_failure

    # Loaded, never entered: nothing under the data_root is created, tightened or locked.
    settings = load_settings(args.config, args.data_root)
    if args.data_root is not None and not settings.data_root.is_dir():
        raise UsageError(f"--data-root {settings.data_root} is not a folder")
    contract, day = feed_of(args.file, settings.contracts_dir, args.feed, args.date)
    if not contract.required_feed and args.file.is_file() and args.file.stat().st_size == 0:
        # as the day's ingest treats it: an optional feed with no bytes has not come
        print(f"{args.file.name}: 0 bytes: the optional feed {contract.name} is absent")
        print(f"warnings:\n  FEED_MISSING:{contract.name}  1\nresult: the day would go on")
        return
    report, gates = check_file(args.file, contract, day, settings, args.data_root is not None)
    print(summary(args.file, contract, day, report, gates))
    if args.data_root is None:
        print("  (day-over-day gates not judged: give --data-root to compare with its last day)")
    raise_on_failure(gates, args.file.name)  # a failed gate: one line, exit 1
    print("result: the day would go on")


EXAMPLE = """\
examples:
  loanrisk validate landing/loans_2026-08-01.csv
  loanrisk validate extract.csv --feed loan_snapshot --date 2026-08-01 --config config
  loanrisk validate landing/loans_2026-08-02.csv --data-root /srv/loanrisk/data

exit status: 0 the day would go on; 1 a gate would stop the day (the gate and the file named on
one line); 2 a usage error."""


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "validate",
        help="check one landing file against its data contract (writes nothing)",
        description="Check a landing file as the day's ingest and validate steps would: file\n"
        "gates, row rules (quarantine reasons and warnings, counted by reason code) and\n"
        "batch gates. Writes nothing. Great Expectations is not run: the pipeline requires\n"
        "its counts to equal the row rules' counts printed here.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.debug(parser)
    parser.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="the landing file (CSV or Parquet), e.g. loans_2026-08-01.csv; a control file "
        "(loans_2026-08-01.done) beside it is checked too",
    )
    parser.add_argument(
        "--feed",
        choices=FEEDS,
        help="the feed whose contract applies (default: from the file name, e.g. loans_* is "
        "loan_snapshot); e.g. --feed events",
    )
    parser.add_argument(
        "--date",
        type=options.date,
        help="the business date (default: from the file name); e.g. --date 2026-08-01",
    )
    parser.add_argument(
        "--data-root",
        help="also judge the day-over-day gates against this data_root's last published day "
        "before the date (read only); e.g. --data-root /srv/loanrisk/data",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="config folder: products, rate cap, gate limits, encoding (default: "
        "$LOANRISK_CONFIG, else ./config, else the shipped policy); e.g. --config /srv/risk/config",
    )
    parser.set_defaults(func=cmd_validate)
