"""The validation stage of one feed: staged text -> raw + quarantine, GX, warnings, gates."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.continuity import continuity_warnings
from loanrisk.domain.feeds import LOANS
from loanrisk.errors import ValidationMismatchError
from loanrisk.lake import records
from loanrisk.lake.records import write_record
from loanrisk.lake.runs import as_money, previous_published
from loanrisk.lake.shards import Shard, shard_count, write_part
from loanrisk.lake.storage import Lake, lake_of, write_table
from loanrisk.pipeline import validation_shards
from loanrisk.pipeline.validation_shards import quarantine_table, raw_table
from loanrisk.quality.casting import type_text
from loanrisk.quality.contracts import Contract, load_contract
from loanrisk.quality.gates import GateResult, change_gates, quarantine_share_gate, raise_on_failure
from loanrisk.quality.gx_samples import personal_masks
from loanrisk.quality.gx_validation import run_suite, suite_table
from loanrisk.quality.rules import RowRule
from loanrisk.quality.validation import (
    QUARANTINED,
    derived_columns,
    feed_rules,
    flag_rows,
    outstanding_sum,
    quarantined_rows,
    rule_counts,
    valid_rows,
)


def _continuity(
    lake: Lake, settings: Settings, day: dt.date, valid: pl.LazyFrame, previous: dict | None
) -> dict[str, int]:
    if previous is None:
        return {}
    previous_day = dt.date.fromisoformat(previous["snapshot_date"])
    before = lake.scan("raw", LOANS, previous_day)
    elapsed = (day - previous_day).days
    lines = settings.risk.ecl.credit_line_products
    found = continuity_warnings(valid, before, elapsed, settings.classification, credit_lines=lines)
    return {f"{rule}:loan_id": count for rule, count in found.items()}


def day_warnings(
    lake: Lake,
    settings: Settings,
    feed: str,
    day: dt.date,
    staged: dict,
    valid: pl.LazyFrame,
    previous: dict | None,
) -> dict[str, int]:
    """The warnings of the whole day, not of its rows one by one: columns the contract does not
    know, and (loans) continuity against the previous published day, on the valid rows."""
    warnings = {f"EXTRA_COLUMN:{c}": 1 for c in staged.get("extra_columns", [])}
    if feed == LOANS:
        warnings.update(_continuity(lake, settings, day, valid, previous))
    return warnings


def rule_tallies(
    rules: list[RowRule], counts: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """(rows breaking each error rule, rows breaking each warning rule), by reason, nonzero."""
    reasons = {r.reason: counts[r.reason] for r in rules if not r.warning and counts[r.reason]}
    warnings = {r.reason: counts[r.reason] for r in rules if r.warning and counts[r.reason]}
    return reasons, warnings


def day_gates(
    settings: Settings, feed: str, report: dict, previous: dict | None, accepted: dict
) -> list[GateResult]:
    policy = settings.pipeline.validation
    gates = [quarantine_share_gate(report["rows_in"], report["rows_quarantined"], policy, accepted)]
    if feed == LOANS and previous is not None:
        today = {"rows": report["rows_valid"], "outstanding": report["outstanding_valid"]}
        before = {
            "rows": previous["rows_valid"],
            "outstanding": previous["outstanding_valid"],
            "date": previous["snapshot_date"],
        }
        gates += change_gates(today, before, policy, accepted)
    return gates


def flag_staged(
    files: list[Path], contract: Contract, rules: list[RowRule], settings: Settings
) -> pl.DataFrame:
    """The staged text of a feed, typed and flagged by ``rules``.

    Read as one chunk per column: Parquet gives a chunk per row group, and a frame whose columns
    are chunked unlike each other is re-aligned (copied whole) by every later select. Ingest
    writes the staging file as one row group, so the rechunk is a no-op but for older files.
    """
    text = pl.read_parquet(files, glob=False).rechunk()
    return flag_rows(type_text(text, contract), rules, derived_columns(contract, settings))


def checked_rows(
    flagged: pl.DataFrame, rules: list[RowRule], contract: Contract, day: dt.date, file_name: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[RowRule], dict[str, int]]:
    """A flagged feed split as ``check_feed`` and ``loanrisk validate FILE`` judge it:
    (flagged, valid rows, quarantined rows, rules, rows breaking each rule by reason code)."""
    counts = rule_counts(flagged, rules)
    valid = valid_rows(flagged, contract, _key(contract))
    quarantined = quarantined_rows(flagged, rules, contract, day, file_name)
    return flagged, valid, quarantined, rules, counts


def _same_counts(counts: dict[str, int], gx_counts: dict[str, int], file_name: str) -> None:
    if gx_counts != counts:
        differ = sorted(k for k in counts if counts[k] != gx_counts.get(k))
        raise ValidationMismatchError(file_name, differ)


def _outstanding(flagged: pl.DataFrame, valid: pl.DataFrame) -> dict[str, str]:
    quarantined = flagged.filter(pl.col(QUARANTINED))
    return {
        "outstanding_in": as_money(outstanding_sum(flagged)),
        "outstanding_valid": as_money(outstanding_sum(valid)),
        "outstanding_quarantined": as_money(outstanding_sum(quarantined)),
    }


def feed_report(
    lake: Lake,
    settings: Settings,
    feed: str,
    day: dt.date,
    staged: dict,
    previous: dict | None,
    checked: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[RowRule], dict[str, int]],
) -> dict:
    """The stage report of a checked feed, before GX: counts, reasons, warnings, outstanding."""
    flagged, valid, quarantined, rules, counts = checked
    reasons, warnings = rule_tallies(rules, counts)
    warnings.update(day_warnings(lake, settings, feed, day, staged, valid.lazy(), previous))
    report = {
        "status": "validated",
        "rows_in": flagged.height,
        "rows_valid": valid.height,
        "rows_quarantined": quarantined.height,
        "reasons": reasons,
        "warnings": dict(sorted(warnings.items())),
        "gx_unexpected_total": None,  # set once GX has run
    }
    return report | ({} if feed != LOANS else _outstanding(flagged, valid))


def gx_counts_of(
    lake: Lake,
    settings: Settings,
    contract: Contract,
    day: dt.date,
    table,
    rules: list[RowRule],
    shard: Shard | None = None,
) -> dict[str, int]:
    """GX's unexpected rows by reason on ``table`` (``suite_table``), one validation run of the
    day, or of ``shard``'s rows (its run name ends with the shard's label)."""
    return run_suite(
        lake.gx_root,
        lake.data_docs,
        lake.gx_archive,
        contract.name,
        day,
        table,
        rules,
        workers=settings.execution.gx_workers,
        masks=personal_masks(contract),
        shard_label=None if shard is None else shard.label,
    )


def check_feed(
    lake: Lake,
    settings: Settings,
    contract: Contract,
    day: dt.date,
    staged: dict,
    previous: dict | None,
) -> dict:
    """Validate one staged feed; write raw and quarantine; the day's report, before its gates
    (``validate_feed`` judges them)."""
    feed, file_name = contract.name, staged["input"]["file"]
    rules = feed_rules(contract, day, settings)
    flagged = flag_staged(lake.partition_files("staging", feed, day), contract, rules, settings)
    checked = checked_rows(flagged, rules, contract, day, file_name)
    _, valid, quarantined, _, counts = checked
    outputs = {
        "output": write_table(lake, "raw", feed, day, valid),
        "quarantine": write_table(lake, "quarantine", feed, day, quarantined),
    }
    report = feed_report(lake, settings, feed, day, staged, previous, checked) | outputs
    # GX reads only its columns: the day's frames go as soon as they are not needed (the valid
    # rows and the flagged frame weigh about as much as GX's columns or more)
    del valid, quarantined, checked
    table = suite_table(flagged, rules)
    del flagged
    gx_counts = gx_counts_of(lake, settings, contract, day, table, rules)
    _same_counts(counts, gx_counts, file_name)
    report["gx_unexpected_total"] = sum(gx_counts.values())
    return report


def _key(contract: Contract) -> str:
    return next(c.name for c in contract.columns if c.unique)


def check_shard(
    lake: Lake, settings: Settings, contract: Contract, day: dt.date, file_name: str, shard: Shard
) -> dict:
    """Validate one shard's staged rows: raw and quarantine parts, GX on its rows, its partial
    report (``validation_shards``); no gate (gates judge the day's totals)."""
    feed, rules = contract.name, feed_rules(contract, day, settings)
    inputs = validation_shards.shard_inputs(lake, feed, day, shard)  # before reading the part
    files = validation_shards.staging_files(lake, feed, day, shard)
    flagged = flag_staged(files, contract, rules, settings)
    _, valid, quarantined, _, counts = checked_rows(flagged, rules, contract, day, file_name)
    reasons, warnings = rule_tallies(rules, counts)
    written = validation_shards.parts_inputs(lake, feed, day)
    partial = {
        "shard": shard.label,
        "inputs": inputs,
        "rows_in": flagged.height,
        "rows_valid": valid.height,
        "rows_quarantined": quarantined.height,
        "reasons": reasons,
        "warnings": warnings,
        "output": write_part(lake, raw_table(feed), day, shard, valid, written),
        "quarantine": write_part(lake, quarantine_table(feed), day, shard, quarantined, written),
    } | ({} if feed != LOANS else _outstanding(flagged, valid))
    del valid, quarantined  # GX needs only its columns (as in check_feed)
    table = suite_table(flagged, rules)
    del flagged
    gx_counts = gx_counts_of(lake, settings, contract, day, table, rules, shard)
    _same_counts(counts, gx_counts, f"{file_name} {shard.label}")
    partial["gx_unexpected"] = {reason: n for reason, n in sorted(gx_counts.items()) if n}
    report = records.ValidatedShard.model_validate(partial)
    return validation_shards.write_shard_report(lake, feed, day, shard, report)


def combine_feed(
    lake: Lake,
    settings: Settings,
    contract: Contract,
    day: dt.date,
    staged: dict,
    previous: dict | None,
    count: int,
) -> dict:
    """The day's report, before its gates, and raw and quarantine partitions from ``count``
    shards' parts and partial reports, as ``check_feed`` makes them unsharded."""
    feed = contract.name
    partials = validation_shards.read_shard_reports(lake, feed, day, count)
    report = validation_shards.summed(partials, feed == LOANS)
    report |= validation_shards.publish(lake, feed, day, count, _key(contract), report)
    valid = lake.scan("raw", feed, day)  # lazy: continuity reads only the columns it needs
    found = day_warnings(lake, settings, feed, day, staged, valid, previous)
    report["warnings"] = dict(sorted((report["warnings"] | found).items()))
    return report


def validate_feed_shard(
    lake: Lake, settings: Settings, business_date: dt.date, feed: str, shard: Shard
) -> dict:
    """One borrower shard's part of ``validate_feed`` (``check_shard``) on a day of K > 1
    shards (``steps.validate_shard`` decides); nothing to do for a feed found missing at
    ingest."""
    staged = records.read_record(lake, business_date, f"ingest_{feed}", records.Ingested)
    if staged.status == "missing":
        return {"shard": shard.label, "status": "missing"}
    contract = load_contract(settings.contracts_dir, feed)
    return check_shard(lake, settings, contract, business_date, staged.input.file, shard)


def validate_feed(
    business_date: dt.date, settings: Settings, feed: str, accepted: dict[str, str]
) -> records.Validated:
    """Staged text -> typed valid rows in ``lake/raw`` + rejected rows in ``lake/quarantine``,
    checked by Great Expectations, warnings counted, batch gates applied; with K > 1 shards,
    from the shards' parts and partial reports (``validate_feed_shard``), the same record and
    bytes."""
    lake = lake_of(settings)
    staged = records.read_record(lake, business_date, f"ingest_{feed}", records.Ingested)
    name = f"validate_{feed}"
    if staged.status == "missing":
        for zone in ("raw", "quarantine"):
            shutil.rmtree(lake.partition(zone, feed, business_date), ignore_errors=True)
        validation_shards.drop_shard_work(lake, feed, business_date)  # an earlier run's parts
        missing = records.Validated(status="missing", warnings={f"FEED_MISSING:{feed}": 1})
        return write_record(lake, business_date, name, missing)
    previous = previous_published(lake, business_date)
    contract = load_contract(settings.contracts_dir, feed)
    staged_report = staged.model_dump(mode="json", exclude_unset=True)
    count = shard_count(lake, business_date, settings.execution)
    if count == 1:
        report = check_feed(lake, settings, contract, business_date, staged_report, previous)
    else:
        report = combine_feed(
            lake, settings, contract, business_date, staged_report, previous, count
        )
    # the gates judge the day's totals, however many shards computed them
    gates = day_gates(settings, feed, report, previous, accepted)
    report["gates"] = [g.as_dict() for g in gates]
    raise_on_failure(gates, staged.input.file)
    # published: the parts go (also an earlier run's, whatever its K; kept while a gate
    # stops), but for the raw ones, read by the day's later shard tasks
    validation_shards.drop_shard_work(lake, feed, business_date, keep_raw=count > 1)
    return write_record(lake, business_date, name, records.Validated.model_validate(report))
