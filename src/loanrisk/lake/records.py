"""Typed step results: what a step records in ``runs/D/stages/<step>.json`` for the steps after
it (``finalize_run`` assembles them into the day's manifest; ``validate`` reads its feed's
``ingest``). Each is a pydantic model, written and read back through the same model, so a field
one step writes and another reads has one name and one type.

Only the fields a step sets are written (``exclude_unset``): a record reads back as the bytes it
was written from. Parts nobody reads field by field (control totals, gates) stay mappings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from loanrisk.errors import InputFileError
from loanrisk.lake.faults import crash_point
from loanrisk.lake.storage import Lake, read_json, write_json_atomic


class Record(BaseModel):
    """A step's recorded result: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Written(Record):
    """A file a step wrote: its lake path, rows and sha256."""

    path: str
    rows: int
    sha256: str


class ExtractWritten(Record):
    """An extract folder a step wrote: its manifest's path and the files it lists."""

    manifest: str
    files: list[Written]


class InputFile(Record):
    file: str
    bytes: int | None = None
    sha256: str | None = None


class Ingested(Record):
    """``ingest`` of one feed: the landing file staged as text, or an optional feed missing."""

    status: Literal["staged", "missing"]
    input: InputFile
    rows_in: int | None = None
    extra_columns: list[str] | None = None
    output: str | None = None


class Validated(Record):
    """``validate`` of one feed: typed valid rows, quarantine, warnings and the batch gates."""

    status: str
    warnings: dict[str, int]
    rows_in: int | None = None
    rows_valid: int | None = None
    rows_quarantined: int | None = None
    outstanding_in: str | None = None
    outstanding_valid: str | None = None
    outstanding_quarantined: str | None = None
    gates: list[dict[str, Any]] | None = None
    gx_unexpected_total: int | None = None
    reasons: dict[str, int] | None = None
    output: Written | None = None
    quarantine: Written | None = None


class Part(Record):
    """A shard's part of a table (``loanrisk.lake.shards.write_part``): its lake path and rows."""

    path: str
    rows: int


class ValidatedShard(Record):
    """One borrower shard's part of ``validate`` (``validation_stage.validate_feed_shard``): counts
    and exact sums of its rows, the row rules' warnings (not the day's: continuity, extra
    columns), GX's unexpected rows by reason, the parts written and the fingerprints of the
    inputs it read. The combine step sums these into the day's ``Validated``."""

    shard: str
    inputs: dict[str, str | None]
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    reasons: dict[str, int]
    warnings: dict[str, int]
    gx_unexpected: dict[str, int]
    outstanding_in: str | None = None
    outstanding_valid: str | None = None
    outstanding_quarantined: str | None = None
    output: Part
    quarantine: Part


class History(Record):
    previous_state_date: str | None
    starts_history: bool
    gap_allowed: bool


class Aged(Record):
    """``age_loans``: the day's loan_aging and loan_state."""

    rows_out: int
    output: Written
    state: Written
    history: History


class Signals(Record):
    """``compute_signals``: the day's borrower tables."""

    rows_out: int
    output: Written
    daily: Written
    borrower_devices: Written
    borrower_transaction_windows: Written
    loan_pre_due_flows: Written
    borrowers_flagged: dict[str, int]
    carried_from_previous_day: bool
    events_feed: bool
    window_days_rebuilt_from_raw: int


class Scored(Record):
    """``score_loans``: loan_risk, the actions and monitoring, and loan_aging restaged."""

    rows_out: int
    output: Written
    actions: Written
    monitoring: Written
    actions_extract: ExtractWritten
    loan_aging: Written | None = None
    scorecard_version: str


class Collections(Record):
    """``build_collections``: the queue, suppressions, movements and the channel extracts."""

    rows_out: int
    suppressed: int
    output: Written
    suppressed_output: Written
    movements: Written
    extract: ExtractWritten
    contact_days: list[str]
    previous_date: str | None


class RegulatoryReport(Record):
    """One regulatory report of ``build_regulatory``: built (outputs, extract manifest,
    control totals) or not (and why)."""

    built: bool | None = None
    reason: str | None = None
    reporting_day: str | None = None
    period: dict[str, Any] | None = None
    outputs: dict[str, Written] | None = None
    manifest: str | None = None
    control_totals: dict[str, Any] | None = None


class Regulatory(Record):
    """``build_regulatory``: each report by name."""

    reports: dict[str, RegulatoryReport]


class Warehouse(Record):
    warehouse: str


R = TypeVar("R", bound=Record)


def _document(record: Record) -> dict:
    if isinstance(record, Regulatory):  # recorded by report name, as the manifest lists them
        return {name: _document(report) for name, report in record.reports.items()}
    return record.model_dump(mode="json", exclude_unset=True)


def write_record(lake: Lake, business_date: dt.date, name: str, record: R) -> R:
    """Record a step's result; a step boundary (the step is done and recorded)."""
    write_json_atomic(_document(record), lake.stage_report(business_date, name))
    crash_point(f"stage_report:{name}")
    return record


def read_record(lake: Lake, business_date: dt.date, name: str, model: type[R]) -> R:
    """A step's recorded result for the day; an error naming the step when it has not run."""
    path = lake.stage_report(business_date, name)
    if not path.exists():
        raise InputFileError(f"{lake.relative(path)}: stage {name} has not run for this date")
    document = read_json(path)
    if model is Regulatory:
        return model.model_validate({"reports": document})
    return model.model_validate(document)
