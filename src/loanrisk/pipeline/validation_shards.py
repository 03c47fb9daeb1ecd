"""Validation of a feed per borrower shard (issue 24, DESIGN.md §8): what the shard tasks and
the combine step of ``validation_stage`` share.

With K > 1, ingest writes the day's staged text as K parts ``staging_<feed>`` (every borrower,
and every copy of a duplicated unique key, in one part). Each shard task types and flags its
part's rows, writes the raw part ``raw_<feed>`` (sorted by the contract key) and the quarantine
part ``quarantine_<feed>`` (by source_line), runs GX on its rows and records a partial report
(``records.ValidatedShard``) in ``state/shards/validate_<feed>/snapshot_date=D/<shard>.json``.
The combine step checks that every partial report is there and came from today's staged parts,
sums them (counts, reasons, row-rule warnings, exact outstanding sums, GX's counts), merges the
parts into the day's raw and quarantine partitions, then adds the day-level warnings and
judges the gates on the totals: the record and partitions of an unsharded run, byte for byte.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import polars as pl

from loanrisk.errors import ShardError
from loanrisk.lake.records import ValidatedShard
from loanrisk.lake.runs import as_money
from loanrisk.lake.shards import (
    Shard,
    checked_parts,
    combine_parts,
    drop_parts,
    input_fingerprints,
    part_files,
)
from loanrisk.lake.storage import Lake, read_json, write_json_atomic, write_table
from loanrisk.quality.parsing import SOURCE_LINE

OUTSTANDING = ("outstanding_in", "outstanding_valid", "outstanding_quarantined")


def staging_table(feed: str) -> str:
    return f"staging_{feed}"


def raw_table(feed: str) -> str:
    return f"raw_{feed}"


def quarantine_table(feed: str) -> str:
    return f"quarantine_{feed}"


def _reports_table(feed: str) -> str:
    return f"validate_{feed}"


def staging_files(lake: Lake, feed: str, day: dt.date, shard: Shard) -> list[Path]:
    """The files of ``shard``'s part of the day's staged text; ``ShardError`` when absent."""
    files = part_files(lake, staging_table(feed), day, shard)
    if not files:
        folder = lake.shard_partition(staging_table(feed), day, shard.label)
        raise ShardError(lake.relative(folder), [f"{shard.label} missing (ingest writes it)"])
    return files


def parts_inputs(lake: Lake, feed: str, day: dt.date) -> dict[str, str | None]:
    """What every raw and quarantine part of the day records it came from (one record for all
    shards, as ``checked_parts`` compares): the feed's ingest record, which names the landing
    file's sha256 and so changes whenever the day is staged from other text."""
    return input_fingerprints(lake, [lake.stage_report(day, f"ingest_{feed}")])


def shard_inputs(lake: Lake, feed: str, day: dt.date, shard: Shard) -> dict[str, str | None]:
    """What one shard's partial report came from: the ingest record and its staged part."""
    staged = part_files(lake, staging_table(feed), day, shard)
    return input_fingerprints(lake, [lake.stage_report(day, f"ingest_{feed}"), *staged])


def _report_path(lake: Lake, feed: str, day: dt.date, shard: Shard) -> Path:
    return lake.shard_state(_reports_table(feed), day) / f"{shard.label}.json"


def write_shard_report(
    lake: Lake, feed: str, day: dt.date, shard: Shard, report: ValidatedShard
) -> dict:
    """Record a shard's partial report (after its parts: a report means the parts are there)."""
    document = report.model_dump(mode="json", exclude_unset=True)
    write_json_atomic(document, _report_path(lake, feed, day, shard))
    return document


def read_shard_reports(lake: Lake, feed: str, day: dt.date, count: int) -> list[ValidatedShard]:
    """Every shard's partial report, in shard order; ``ShardError`` naming each one missing or
    computed from other staged text than today's."""
    reports, problems = [], []
    for number in range(count):
        shard = Shard(number, count)
        path = _report_path(lake, feed, day, shard)
        if not path.exists():
            problems.append(f"{shard.label} missing")
            continue
        report = ValidatedShard.model_validate(read_json(path))
        if report.inputs != shard_inputs(lake, feed, day, shard):
            problems.append(f"{shard.label} computed from other inputs")
        reports.append(report)
    if problems:
        raise ShardError(lake.relative(lake.shard_state(_reports_table(feed), day)), problems)
    return reports


def _summed(mappings: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for mapping in mappings:
        total.update(mapping)
    return {key: n for key, n in sorted(total.items()) if n}


def summed(reports: list[ValidatedShard], loans: bool) -> dict:
    """The day's report before its day-level warnings, outputs and gates: the shards' counts,
    reasons, row-rule warnings and GX counts added up, outstanding sums (loans) added exactly."""
    report = {
        "status": "validated",
        "rows_in": sum(r.rows_in for r in reports),
        "rows_valid": sum(r.rows_valid for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "reasons": _summed([r.reasons for r in reports]),
        "warnings": _summed([r.warnings for r in reports]),
        "gx_unexpected_total": sum(sum(r.gx_unexpected.values()) for r in reports),
    }
    if loans:
        for name in OUTSTANDING:
            report[name] = as_money(sum(Decimal(getattr(r, name)) for r in reports))
    return report


def _combined(
    lake: Lake, table: str, day: dt.date, count: int, key: str, zone: str, name: str, rows: int
) -> dict:
    """Publish ``lake/<zone>/<name>`` from the parts of ``table``, merged by ``key``."""
    inputs = parts_inputs(lake, name, day)
    if rows == 0:  # merge_sorted writes a table of no rows without its columns: take a part's
        parts = checked_parts(lake, table, day, count, inputs)
        return write_table(lake, zone, name, day, pl.read_parquet(parts[0], glob=False))
    written = combine_parts(lake, table, day, count, inputs, [key], zone=zone, name=name)
    if written["rows"] != rows:
        problem = f"{written['rows']} rows in the parts, {rows} in the shards' reports"
        raise ShardError(lake.relative(lake.partition("shards", table, day)), [problem])
    return written


def publish(lake: Lake, feed: str, day: dt.date, count: int, key: str, report: dict) -> dict:
    """The day's raw (by ``key``) and quarantine (by source_line) partitions from the parts,
    as {output, quarantine} entries of the stage report."""
    return {
        "output": _combined(
            lake, raw_table(feed), day, count, key, "raw", feed, report["rows_valid"]
        ),
        "quarantine": _combined(
            lake,
            quarantine_table(feed),
            day,
            count,
            SOURCE_LINE,
            "quarantine",
            feed,
            report["rows_quarantined"],
        ),
    }


def drop_shard_work(lake: Lake, feed: str, day: dt.date, keep_raw: bool = False) -> None:
    """Remove the day's staged, raw and quarantine parts and the partial reports, once the
    day's tables are published (validation is the staged parts' only reader). ``keep_raw``:
    the raw parts stay for the day's later shard tasks (``shards.own_rows``), until
    ``finalize_run``."""
    for table in (staging_table, raw_table, quarantine_table, _reports_table):
        if not (keep_raw and table is raw_table):
            drop_parts(lake, table(feed), day)
