"""Bad-input corpus: every way a landing file goes wrong, each with its exact outcome.

Each case runs the real day (``run_day``) on a copy of one small synthetic day (300 loans, so
one or two bad rows stay under the 1% QUARANTINE_SHARE gate) and asserts the file gate
(``GateError.gate`` and a one-line message naming the file) or the exact reason codes per
source line, the warnings and the counts (rows_in = rows_valid + rows_quarantined). The stage
itself refuses to publish when Great Expectations and the Polars quarantine disagree, so every
case that publishes also proves GX equivalence; ``test_gx_counts_equal_polars_counts`` checks it
directly on a file breaking every rule of the contract.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import CORPUS_DAY, CORPUS_FILE, CORPUS_LOANS

from loanrisk.config import load_settings
from loanrisk.errors import GateError
from loanrisk.lake.storage import lake_of
from loanrisk.pipeline.runner import run_day
from loanrisk.quality import gx_validation, gx_workers
from loanrisk.quality.casting import type_text
from loanrisk.quality.contracts import load_contract
from loanrisk.quality.gx_samples import personal_masks
from loanrisk.quality.gx_validation import run_suite, suite_table
from loanrisk.quality.parsing import raw_name, read_text
from loanrisk.quality.validation import derived_columns, feed_rules, flag_rows, rule_counts

DAY, FILE, N = CORPUS_DAY, CORPUS_FILE, CORPUS_LOANS  # the corpus's first day (conftest)
EVENTS = "events_2026-03-01.csv"
LOANS = "loan_snapshot"
ACCEPT = {"QUARANTINE_SHARE": "bad-input corpus"}

# Optional text for an edit: a literal, None (empty field) or a function of the original row.
Value = str | None | Callable[[dict], str | None]


# --------------------------------------------------------------------------- fixtures, helpers


@pytest.fixture(scope="session")
def roles(source) -> dict[str, int]:
    """1-based file lines of rows picked by what they are (the header is line 1).

    ``clean<i>``: instalment loans with nothing overdue, no forbearance, paid before D-1;
    ``credit``: a credit line with nothing overdue; ``late``: a delinquent instalment loan;
    ``last``: the last line of the file.
    """
    lines = source.with_row_index("line", offset=2)
    not_overdue = (
        (pl.col("account_status") == "ACTIVE")
        & (pl.col("forbearance_type") == "NONE")
        & pl.col("oldest_unpaid_due_date").is_null()
        & (pl.col("days_past_due") == "0")
        & (pl.col("overdue_principal") == "0.00")
        & (pl.col("overdue_interest") == "0.00")
        & (pl.col("overdue_fees") == "0.00")
        & (pl.col("last_payment_date").is_null() | (pl.col("last_payment_date") < "2026-02-28"))
        & (pl.col("origination_date") < "2026-02-28")
    )
    instalments = pl.col("product_code").is_in(["CASH_LOAN", "INSTALLMENT"])
    clean = lines.filter(not_overdue & instalments)["line"].to_list()
    credit = lines.filter(not_overdue & (pl.col("product_code") == "CREDIT_LINE"))["line"]
    late = lines.filter(
        instalments & (pl.col("account_status") == "ACTIVE") & (pl.col("days_past_due") != "0")
    )["line"]
    # Spread the clean picks over the file so that cases never share a line.
    picked = {f"clean{i}": line for i, line in enumerate(clean[5::7][:12])}
    assert len(picked) == 12
    return {**picked, "credit": credit[3], "late": late[2], "last": N + 1}


@pytest.fixture
def day(corpus_day):
    """The corpus's data_root (conftest ``corpus_day``)."""
    return corpus_day


@pytest.fixture(scope="session")
def source(corpus_source):
    """The corpus's first loans file as text (conftest ``corpus_source``)."""
    return corpus_source


@pytest.fixture(scope="session")
def baseline(tmp_path_factory, config_dir, corpus_landing) -> dict:
    """The untouched day, run once: what a file that 'reads fine' must reproduce."""
    settings = load_settings(config_dir, tmp_path_factory.mktemp("baseline") / "data")
    settings.landing_dir.mkdir(parents=True)
    shutil.copy(corpus_landing / FILE, settings.landing_dir / FILE)
    manifest = run_day(DAY, settings)
    assert manifest["rows_valid"] == N and manifest["warnings"] == {}
    raw = lake_of(settings).partition_file("raw", LOANS, DAY)
    return {"manifest": manifest, "raw": raw.read_bytes()}


def landing(settings) -> Path:
    return settings.landing_dir / FILE


def edit(settings, changes: dict[int, dict[str, Value]], extra: dict | None = None) -> None:
    """Rewrite the landing file with ``changes`` (line -> column -> value) applied."""
    frame = pl.read_csv(landing(settings), infer_schema=False)
    rows = frame.to_dicts()
    for line, columns in changes.items():
        original = dict(rows[line - 2])
        for column, value in columns.items():
            rows[line - 2][column] = value(original) if callable(value) else value
    out = pl.DataFrame(rows, schema=frame.schema)
    if extra:
        out = out.with_columns(pl.lit(v).alias(k) for k, v in extra.items())
    out.write_csv(landing(settings))


def quarantine(settings, feed: str = LOANS) -> pl.DataFrame:
    return pl.read_parquet(lake_of(settings).partition_file("quarantine", feed, DAY))


def raw(settings, feed: str = LOANS) -> pl.DataFrame:
    return pl.read_parquet(lake_of(settings).partition_file("raw", feed, DAY))


def aging(settings) -> pl.DataFrame:
    return pl.read_parquet(lake_of(settings).partition_file("curated", "loan_aging", DAY))


def stored_manifest(settings) -> dict:
    return json.loads(lake_of(settings).run_manifest(DAY).read_text(encoding="utf-8"))


def reasons_by_line(settings, feed: str = LOANS) -> dict[int, list[str]]:
    bad = quarantine(settings, feed)
    return dict(zip(bad["source_line"].to_list(), bad["reason_codes"].to_list(), strict=True))


def share_gate(manifest: dict) -> dict:
    return next(g for g in manifest["gates"] if g["gate"] == "QUARANTINE_SHARE")


def assert_outcome(
    settings,
    manifest: dict,
    reasons: dict[int, list[str]],
    warnings: dict[str, int],
    rows_in: int = N,
) -> None:
    """The exact outcome of a published day: quarantined lines and their reasons, counts,
    warnings, the manifest's reason counts and the raw/quarantine partitions agreeing."""
    assert manifest["status"] == "published"
    assert reasons_by_line(settings) == reasons
    assert manifest["rows_in"] == rows_in
    assert manifest["rows_quarantined"] == len(reasons)
    assert manifest["rows_valid"] == rows_in - len(reasons)
    assert manifest["rows_in"] == manifest["rows_valid"] + manifest["rows_quarantined"]
    expected_counts = Counter(code for codes in reasons.values() for code in codes)
    assert manifest["feeds"][LOANS]["reasons"] == dict(expected_counts)
    assert manifest["warnings"] == warnings
    assert raw(settings).height == manifest["rows_valid"]
    assert aging(settings).height == manifest["rows_valid"]
    gate = share_gate(manifest)
    assert gate["status"] == ("passed" if len(reasons) / rows_in <= 0.01 else "accepted")


def assert_file_gate(settings, excinfo, gate: str, *fragments: str) -> None:
    """A file gate: its name, a one-line message naming the file, a failed manifest and
    nothing published for the day."""
    error = excinfo.value
    message = str(error)
    assert error.gate == gate
    assert error.file_name == FILE
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"[GATE] {FILE}: gate {gate} failed: ")
    for fragment in fragments:
        assert fragment in message
    failed = stored_manifest(settings)
    assert failed["status"] == "failed"
    assert failed["failure"]["gate"] == gate and failed["failure"]["file"] == FILE
    lake = lake_of(settings)
    assert not lake.partition("curated", "loan_aging", DAY).exists()
    assert not lake.partition("raw", LOANS, DAY).exists()


# --------------------------------------------------------------------------- file gates


def _drop_column(data: bytes, name: bytes) -> bytes:
    lines = data.split(b"\n")
    at = lines[0].split(b",").index(name)
    return b"\n".join(
        b",".join(f for i, f in enumerate(line.split(b",")) if i != at) if line else line
        for line in lines
    )


def _rename_column(data: bytes, old: bytes, new: bytes) -> bytes:
    head, rest = data.split(b"\n", 1)
    return head.replace(old, new, 1) + b"\n" + rest


def _append_column(data: bytes, name: bytes, value: bytes) -> bytes:
    head, *rows = data.rstrip(b"\n").split(b"\n")
    return b"\n".join([head + b"," + name, *(row + b"," + value for row in rows)]) + b"\n"


def _only_header(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0] + b"\n"


def _ragged(data: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[41] += b",surplus"
    return b"\n".join(lines)


def _with_field(data: bytes, line: int, column: int, value: bytes) -> bytes:
    lines = data.split(b"\n")
    fields = lines[line - 1].split(b",")
    fields[column] = value
    lines[line - 1] = b",".join(fields)
    return b"\n".join(lines)


NAME_COLUMN = 30  # borrower_name's position in the contract (0-based)

FILE_GATE_CASES = {
    "empty_0_bytes": (lambda d: b"", "FILE_EMPTY", ["file is empty (0 bytes)"]),
    "header_only": (_only_header, "FILE_EMPTY", ["file has a header but no rows"]),
    "header_only_no_newline": (
        lambda d: _only_header(d).rstrip(b"\n"),
        "FILE_EMPTY",
        ["file has a header but no rows"],
    ),
    "blank_lines_only": (lambda d: b"\n\n", "FILE_EMPTY", ["file has no header and no rows"]),
    "semicolon_delimiter": (
        lambda d: d.replace(b",", b";"),
        "COLUMN_MISSING",
        ["required column(s) missing for contract loan_snapshot v1.0.0: snapshot_date, loan_id"],
    ),
    "tab_delimiter": (lambda d: d.replace(b",", b"\t"), "COLUMN_MISSING", ["borrower_timezone"]),
    "missing_column": (
        lambda d: _drop_column(d, b"overdue_fees"),
        "COLUMN_MISSING",
        ["loan_snapshot v1.0.0: overdue_fees"],
    ),
    "renamed_column": (
        lambda d: _rename_column(d, b"loan_id", b"loan_no"),
        "COLUMN_MISSING",
        ["loan_snapshot v1.0.0: loan_id"],
    ),
    "header_in_upper_case": (
        lambda d: _rename_column(d, b"principal_amount", b"PRINCIPAL_AMOUNT"),
        "COLUMN_MISSING",
        ["loan_snapshot v1.0.0: principal_amount"],
    ),
    "column_named_twice": (
        lambda d: _append_column(d, b"outstanding_principal", b"0.00"),
        "FILE_UNREADABLE",
        ["column(s) named more than once in the header: outstanding_principal"],
    ),
    "undeclared_gbk_on_one_line": (
        lambda d: _with_field(d, 57, NAME_COLUMN, "董帆桂".encode("gbk")),
        "FILE_UNREADABLE",
        ["not valid utf-8 at line 57", "input_encoding"],
    ),
    "row_with_a_surplus_field": (_ragged, "FILE_UNREADABLE", ["found more fields"]),
    "unterminated_quote": (
        lambda d: _with_field(d, 90, NAME_COLUMN, b'"Wang'),
        "FILE_UNREADABLE",
        ["unreadable as utf-8 CSV"],
    ),
    "stray_quote_inside_a_field": (
        lambda d: _with_field(d, 90, NAME_COLUMN, b'O"Brien'),
        "FILE_UNREADABLE",
        ["unreadable as utf-8 CSV"],
    ),
}


@pytest.mark.parametrize("case", list(FILE_GATE_CASES), ids=list(FILE_GATE_CASES))
def test_file_gate(day, case):
    transform, gate, fragments = FILE_GATE_CASES[case]
    path = landing(day)
    original = path.read_bytes()
    path.write_bytes(transform(original))
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_file_gate(day, excinfo, gate, *fragments)
    if case == "semicolon_delimiter":  # every contract column is named, on one line
        contract = load_contract(day.contracts_dir, LOANS)
        assert str(excinfo.value).endswith(", ".join(contract.column_names))
    if case == "unterminated_quote":  # the message must not leak the row's PII
        row = original.split(b"\n")[89].decode().split(",")
        for pii in row[NAME_COLUMN + 1 : NAME_COLUMN + 3]:
            assert pii not in str(excinfo.value)


def test_missing_file_is_a_file_gate(day):
    landing(day).unlink()
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_file_gate(day, excinfo, "FILE_MISSING", "file not found")


# --------------------------------------------------------------------------- files that read fine


def _bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _quote_all(data: bytes) -> bytes:
    """What Excel, ``csv.QUOTE_ALL`` and many database exports write: every field quoted,
    empty values as ``""``."""
    return b"\n".join(
        b",".join(b'"' + f + b'"' for f in line.split(b",")) if line else line
        for line in data.split(b"\n")
    )


READS_FINE = {
    "utf8_with_bom": _bom,
    "crlf_line_endings": _crlf,
    "no_final_newline": lambda d: d.rstrip(b"\n"),
    "trailing_blank_lines": lambda d: d + b"\n\n",
    "every_field_quoted": _quote_all,
}


@pytest.mark.parametrize("case", list(READS_FINE), ids=list(READS_FINE))
def test_file_reads_fine(day, baseline, case):
    path = landing(day)
    path.write_bytes(READS_FINE[case](path.read_bytes()))
    manifest = run_day(DAY, day)
    assert_outcome(day, manifest, {}, {})
    assert manifest["feeds"][LOANS]["extra_columns"] == []
    # Same typed rows as the plain file, to the byte.
    assert lake_of(day).partition_file("raw", LOANS, DAY).read_bytes() == baseline["raw"]
    assert manifest["outstanding_valid"] == baseline["manifest"]["outstanding_valid"]


QUOTED_LAYOUTS = {
    "lf-final_newline-kept": ("\n", True, False),
    "crlf-no_final_newline-kept": ("\r\n", False, False),
    "lf-no_final_newline-bad": ("\n", False, True),
}


@pytest.mark.parametrize("layout", list(QUOTED_LAYOUTS), ids=list(QUOTED_LAYOUTS))
def test_quoted_comma_and_newline_keep_source_lines(day, roles, layout):
    """A quoted field may hold the delimiter and a line break. The row reads whole, and a bad
    row's source_line is the line its record starts on: before the field, on the row holding
    it, and after it (one line further down). Exactly one embedded break, so that a missing
    final newline cannot balance the count."""
    line_ending, final_newline, holder_is_bad = QUOTED_LAYOUTS[layout]
    name = f"Zhang, San{line_ending}(duplicate card)"
    before, holder, after = roles["clean0"], roles["clean1"], roles["clean3"]
    bad_amount = {"principal_amount": "abc"}
    edit(
        day,
        {
            before: bad_amount,
            holder: {"borrower_name": name, **(bad_amount if holder_is_bad else {})},
            after: bad_amount,
        },
    )
    path = landing(day)
    data = path.read_bytes().replace(b"\n", line_ending.encode())
    if line_ending == "\r\n":  # the embedded break was doubled by the replace above
        data = data.replace(b"\r\r\n", b"\r\n")
    path.write_bytes(data if final_newline else data.rstrip(b"\r\n"))
    manifest = run_day(DAY, day)
    reasons = {line: ["PARSE_ERROR:principal_amount"] for line in (before, after + 1)}
    if holder_is_bad:
        reasons[holder] = ["PARSE_ERROR:principal_amount"]
    assert_outcome(day, manifest, dict(sorted(reasons.items())), {})
    if holder_is_bad:
        stored = quarantine(day).filter(pl.col("source_line") == holder)
    else:
        stored = raw(day).filter(pl.col("borrower_name").str.starts_with("Zhang"))
    assert stored.height == 1
    column = "raw_borrower_name" if holder_is_bad else "borrower_name"
    assert stored[column].to_list() == [name]


def test_extra_column_is_ignored_with_a_warning(day):
    edit(day, {}, extra={"branch_code": "SH01"})
    manifest = run_day(DAY, day)
    assert_outcome(day, manifest, {}, {"EXTRA_COLUMN:branch_code": 1})
    assert manifest["feeds"][LOANS]["extra_columns"] == ["branch_code"]
    contract = load_contract(day.contracts_dir, LOANS)
    assert raw(day).columns == contract.column_names  # not carried into the lake


# --------------------------------------------------------------------------- row rules


@dataclass(frozen=True)
class RowCase:
    """Edits by role (see ``roles``), the reason codes each edited row must be quarantined
    with (roles absent from ``reasons`` must be kept) and the exact warnings of the day."""

    edits: dict[str, dict[str, Value]]
    reasons: dict[str, list[str]] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    typed: dict[str, dict[str, object]] = field(default_factory=dict)  # kept rows' values


def _plus(column: str, amount: str) -> Callable[[dict], str]:
    return lambda row: str(Decimal(row[column]) + Decimal(amount))


def _wrong_check_digit(row: dict) -> str:
    body, check = row["national_id"][:17], row["national_id"][17]
    return body + ("0" if check != "0" else "1")


ROW_CASES: dict[str, RowCase] = {
    # money
    "thousands_separator": RowCase(
        {"clean0": {"principal_amount": "12,345.00"}},
        {"clean0": ["PARSE_ERROR:principal_amount"]},
    ),
    "non_numeric_amounts": RowCase(
        {
            "clean0": {"outstanding_principal": "n/a"},
            "clean1": {"principal_amount": "1.2e4"},
            "clean2": {"principal_amount": "¥100.00"},
        },
        {
            "clean0": ["PARSE_ERROR:outstanding_principal"],
            "clean1": ["PARSE_ERROR:principal_amount"],
            "clean2": ["PARSE_ERROR:principal_amount"],
        },
    ),
    "nan_amount": RowCase(
        {"clean0": {"principal_amount": "NaN"}}, {"clean0": ["PARSE_ERROR:principal_amount"]}
    ),
    "inf_amounts": RowCase(
        {"clean0": {"principal_amount": "inf"}, "clean1": {"overdue_fees": "-Infinity"}},
        {"clean0": ["PARSE_ERROR:principal_amount"], "clean1": ["PARSE_ERROR:overdue_fees"]},
    ),
    "more_than_two_decimals": RowCase(
        {"clean0": {"principal_amount": "12.345"}}, {"clean0": ["PARSE_ERROR:principal_amount"]}
    ),
    "negative_and_zero_principal": RowCase(
        {"clean0": {"principal_amount": "-100.00"}, "clean1": {"principal_amount": "0.00"}},
        {"clean0": ["RANGE_BREACH:principal_amount"], "clean1": ["RANGE_BREACH:principal_amount"]},
    ),
    "negative_outstanding_breaks_two_rules": RowCase(
        {"clean0": {"outstanding_principal": "-0.01"}},
        {
            "clean0": [
                "OVERDUE_ABOVE_OUTSTANDING:overdue_principal",
                "RANGE_BREACH:outstanding_principal",
            ]
        },
    ),
    "overdue_above_outstanding": RowCase(
        {"clean0": {"overdue_principal": _plus("outstanding_principal", "0.01")}},
        {"clean0": ["OVERDUE_ABOVE_OUTSTANDING:overdue_principal"]},
    ),
    # rate
    "rate_above_cap": RowCase(
        {"clean0": {"annual_interest_rate": "0.360001"}},
        {"clean0": ["ABOVE_CAP:annual_interest_rate"]},
    ),
    "rate_as_percent_and_negative": RowCase(
        {"clean0": {"annual_interest_rate": "18.5"}, "clean1": {"annual_interest_rate": "-0.01"}},
        {
            "clean0": ["ABOVE_CAP:annual_interest_rate"],
            "clean1": ["RANGE_BREACH:annual_interest_rate"],
        },
    ),
    # dates
    "february_30th": RowCase(
        {"clean0": {"origination_date": "2026-02-30"}},
        {"clean0": ["PARSE_ERROR:origination_date"]},
    ),
    "date_not_iso": RowCase(
        {"clean0": {"maturity_date": "2027-5-8"}, "clean1": {"next_due_date": "08/03/2026"}},
        {"clean0": ["PARSE_ERROR:maturity_date"], "clean1": ["PARSE_ERROR:next_due_date"]},
    ),
    "future_origination": RowCase(
        {"clean0": {"origination_date": "2026-03-02", "maturity_date": "2027-03-02"}},
        {"clean0": ["ORIGINATION_AFTER_SNAPSHOT:origination_date"]},
    ),
    "maturity_before_origination": RowCase(
        {"clean0": {"maturity_date": "2000-01-31"}},
        {"clean0": ["MATURITY_BEFORE_ORIGINATION:origination_date"]},
    ),
    "oldest_unpaid_after_snapshot": RowCase(
        {"late": {"oldest_unpaid_due_date": "2026-03-08", "days_past_due": "0"}},
        {"late": ["OLDEST_UNPAID_AFTER_SNAPSHOT:oldest_unpaid_due_date"]},
    ),
    "last_payment_after_snapshot": RowCase(
        {"clean0": {"last_payment_date": "2026-03-02"}},
        {"clean0": ["LAST_PAYMENT_AFTER_SNAPSHOT:last_payment_date"]},
    ),
    "snapshot_date_mismatch": RowCase(
        {"clean0": {"snapshot_date": "2026-02-28"}},
        {"clean0": ["SNAPSHOT_DATE_MISMATCH:snapshot_date"]},
    ),
    # conditional requirements
    "forbearance_without_start_date": RowCase(
        {"clean0": {"forbearance_type": "DEFERRAL"}},
        {"clean0": ["FORBEARANCE_START_MISSING:forbearance_start_date"]},
    ),
    "credit_line_without_limit": RowCase(
        {"credit": {"credit_limit": None}}, {"credit": ["CREDIT_LIMIT_MISSING:credit_limit"]}
    ),
    # instalments
    "installments_paid_above_total": RowCase(
        {"clean0": {"installments_paid": lambda row: str(int(row["installments_total"]) + 1)}},
        {"clean0": ["INSTALLMENTS_PAID_ABOVE_TOTAL:installments_paid"]},
    ),
    "installments_not_integers": RowCase(
        {"clean0": {"installments_total": "12.0"}, "clean1": {"installments_paid": "2147483648"}},
        {
            "clean0": ["PARSE_ERROR:installments_total"],
            "clean1": ["PARSE_ERROR:installments_paid"],
        },
    ),
    "negative_days_past_due": RowCase(
        {"clean0": {"days_past_due": "-1"}},
        {"clean0": ["RANGE_BREACH:days_past_due"]},
        {"DPD_MISMATCH:days_past_due": 1},
    ),
    # enums, patterns, booleans
    "unknown_account_status": RowCase(
        {"clean0": {"account_status": "OPEN"}, "clean1": {"account_status": "active"}},
        {
            "clean0": ["ENUM_OUTSIDE_SET:account_status"],
            "clean1": ["ENUM_OUTSIDE_SET:account_status"],
        },
    ),
    "unknown_product_code": RowCase(
        {"clean0": {"product_code": "PAYDAY"}}, {"clean0": ["ENUM_OUTSIDE_SET:product_code"]}
    ),
    "unknown_forbearance_type_without_start": RowCase(
        {"clean0": {"forbearance_type": "HOLIDAY"}},
        {
            "clean0": [
                "ENUM_OUTSIDE_SET:forbearance_type",
                "FORBEARANCE_START_MISSING:forbearance_start_date",
            ]
        },
    ),
    "currency_and_region_patterns": RowCase(
        {"clean0": {"currency": "cny"}, "clean1": {"region_code": "11010"}},
        {"clean0": ["PATTERN_MISMATCH:currency"], "clean1": ["PATTERN_MISMATCH:region_code"]},
    ),
    "value_ending_in_a_line_break": RowCase(  # quoted; Python's "$" would match before it
        {"clean0": {"region_code": "110105\n"}, "clean1": {"mobile_phone": "13800138000\n"}},
        {"clean0": ["PATTERN_MISMATCH:region_code"]},
        {"FORMAT_WARNING:mobile_phone": 1},
    ),
    "boolean_not_a_boolean": RowCase(
        {"clean0": {"dispute_flag": "maybe"}}, {"clean0": ["PARSE_ERROR:dispute_flag"]}
    ),
    # lenient but exact: kept, typed as meant
    "edge_values_are_kept": RowCase(
        {
            "clean0": {"annual_interest_rate": "0.36", "principal_amount": " 18700.5 "},
            "clean1": {"litigation_flag": "Y", "dispute_flag": "TRUE", "deceased_flag": " no "},
            "clean2": {
                "forbearance_type": "INSTALLMENT_PLAN",
                "forbearance_start_date": "2026-02-01",
            },
            "clean3": {
                "maturity_date": "9999-12-31",
                "installments_paid": lambda row: "00" + row["installments_paid"],
            },
        },
        typed={
            "clean0": {
                "annual_interest_rate": Decimal("0.36"),
                "principal_amount": Decimal("18700.50"),
            },
            "clean1": {"litigation_flag": True, "dispute_flag": True, "deceased_flag": False},
            "clean2": {
                "forbearance_type": "INSTALLMENT_PLAN",
                "forbearance_start_date": dt.date(2026, 2, 1),
            },
            "clean3": {"maturity_date": dt.date(9999, 12, 31)},
        },
    ),
    # required values
    "borrower_id_empty": RowCase(
        {"clean0": {"borrower_id": None}}, {"clean0": ["REQUIRED_MISSING:borrower_id"]}
    ),
    "loan_id_and_flags_empty": RowCase(
        {"clean0": {"loan_id": None, "bankruptcy_flag": None}},
        {"clean0": ["REQUIRED_MISSING:bankruptcy_flag", "REQUIRED_MISSING:loan_id"]},
    ),
    # warnings only: the row is kept
    "bad_mobile_phone": RowCase(
        {"clean0": {"mobile_phone": "12345678901"}, "clean1": {"mobile_phone": "+8613800138000"}},
        {},
        {"FORMAT_WARNING:mobile_phone": 2},
    ),
    "resident_id_check_digit": RowCase(
        {"clean0": {"national_id": _wrong_check_digit}},
        {},
        {"RESIDENT_ID_CHECK_DIGIT:national_id": 1},
    ),
    "resident_id_malformed": RowCase(
        {"clean0": {"national_id": "11010519491231002"}, "clean1": {"national_id": "x" * 18}},
        {},
        {"FORMAT_WARNING:national_id": 2},
    ),
    "oldest_unpaid_without_overdue": RowCase(
        {"clean0": {"oldest_unpaid_due_date": "2026-02-01"}},
        {},
        {"OLDEST_UNPAID_WITHOUT_OVERDUE:oldest_unpaid_due_date": 1},
    ),
    # one row, many problems: every reason, sorted; its warnings still counted
    "several_problems_in_one_row": RowCase(
        {
            "clean0": {
                "principal_amount": "abc",
                "account_status": "OPEN",
                "snapshot_date": "2026-02-28",
                "borrower_id": None,
                "mobile_phone": "123",
                "days_past_due": "3",
            }
        },
        {
            "clean0": [
                "ENUM_OUTSIDE_SET:account_status",
                "PARSE_ERROR:principal_amount",
                "REQUIRED_MISSING:borrower_id",
                "SNAPSHOT_DATE_MISMATCH:snapshot_date",
            ]
        },
        {"DPD_MISMATCH:days_past_due": 1, "FORMAT_WARNING:mobile_phone": 1},
    ),
}


@pytest.mark.parametrize("case", list(ROW_CASES), ids=list(ROW_CASES))
def test_row_rule(day, roles, case):
    spec = ROW_CASES[case]
    edit(day, {roles[role]: changes for role, changes in spec.edits.items()})
    manifest = run_day(DAY, day)
    reasons = {roles[role]: codes for role, codes in spec.reasons.items()}
    assert_outcome(day, manifest, reasons, spec.warnings)
    # Every edited row is either kept (typed in raw) or quarantined with its raw text.
    source = pl.read_csv(landing(day), infer_schema=False)
    bad = quarantine(day)
    for role in spec.edits:
        line = roles[role]
        row = source.row(line - 2, named=True)
        if role in spec.reasons:
            stored = bad.filter(pl.col("source_line") == line).row(0, named=True)
            assert {c: stored[f"raw_{c}"] for c in source.columns} == row
            assert stored["source_file"] == FILE and stored["snapshot_date"] == DAY
        else:
            kept = raw(day).filter(pl.col("loan_id") == row["loan_id"])
            assert kept.height == 1
            for column, value in spec.typed.get(role, {}).items():
                assert kept[column].item() == value, column


def test_warning_rows_are_aged_on_recomputed_dpd(day, roles):
    """DPD_MISMATCH is a warning: the row is kept and aged on the recomputed dpd."""
    line = roles["clean0"]
    edit(day, {line: {"days_past_due": "45"}})
    manifest = run_day(DAY, day)
    assert_outcome(day, manifest, {}, {"DPD_MISMATCH:days_past_due": 1})
    loan_id = pl.read_csv(landing(day), infer_schema=False)["loan_id"][line - 2]
    aged = aging(day).filter(pl.col("loan_id") == loan_id).row(0, named=True)
    assert (aged["dpd"], aged["days_past_due_reported"], aged["aging_bucket"]) == (0, 45, "M0")


def test_formula_text_is_stored_verbatim(day, roles):
    formula = '=HYPERLINK("http://x","y")'
    edit(day, {roles["clean0"]: {"borrower_name": formula, "mobile_phone": "+1-555"}})
    assert ('"' + formula.replace('"', '""') + '"').encode() in landing(day).read_bytes()
    manifest = run_day(DAY, day)
    assert_outcome(day, manifest, {}, {"FORMAT_WARNING:mobile_phone": 1})
    assert raw(day).filter(pl.col("borrower_name") == formula).height == 1


def test_duplicate_loan_id_quarantines_every_copy(day, roles, source):
    key = source["loan_id"][roles["clean0"] - 2]
    edit(day, {roles["clean1"]: {"loan_id": key}, roles["clean2"]: {"loan_id": key}})
    manifest = run_day(DAY, day)
    copies = [roles["clean0"], roles["clean1"], roles["clean2"]]
    assert_outcome(day, manifest, {line: ["DUPLICATE_KEY:loan_id"] for line in copies}, {})
    assert raw(day).filter(pl.col("loan_id") == key).height == 0
    gate = share_gate(manifest)  # 3 of 300 is exactly the limit: still passes
    assert (gate["status"], gate["value"], gate["limit"]) == ("passed", 0.01, 0.01)
    assert gate["detail"].startswith("3 of 300 rows quarantined (1.00%)")


def test_four_bad_rows_trip_the_gate_unless_accepted(day, roles):
    lines = [roles[f"clean{i}"] for i in range(4)]
    edit(day, {line: {"currency": "RMB¥"} for line in lines})
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert excinfo.value.gate == "QUARANTINE_SHARE"
    assert str(excinfo.value) == (
        f"[GATE] {FILE}: gate QUARANTINE_SHARE failed: 4 of 300 rows quarantined (1.33%) "
        "> max 1.00% (to publish anyway: --accept-gate QUARANTINE_SHARE --reason '...')"
    )
    assert stored_manifest(day)["status"] == "failed"
    assert not lake_of(day).partition("curated", "loan_aging", DAY).exists()
    manifest = run_day(DAY, day, ACCEPT)
    assert_outcome(day, manifest, {line: ["PATTERN_MISMATCH:currency"] for line in lines}, {})
    assert share_gate(manifest)["reason"] == ACCEPT["QUARANTINE_SHARE"]


@pytest.mark.parametrize("cut", ["inside_a_field", "at_a_field_boundary"])
def test_truncated_last_line(day, roles, cut):
    """A transfer cut off mid-row: the fields that never arrived are missing, so the row is
    quarantined with REQUIRED_MISSING on every required column among them."""
    last = roles["last"]
    edit(day, {last: {"last_payment_date": "2026-02-08"}})
    contract = load_contract(day.contracts_dir, LOANS)
    at = contract.column_names.index("last_payment_date")
    path = landing(day)
    lines = path.read_bytes().rstrip(b"\n").split(b"\n")
    fields = lines[-1].split(b",")[:at] + ([b"2026-02"] if cut == "inside_a_field" else [])
    lines[-1] = b",".join(fields)
    path.write_bytes(b"\n".join(lines))  # no final newline either: the transfer just stopped
    manifest = run_day(DAY, day)
    never_arrived = contract.column_names[at + (cut == "inside_a_field") :]
    codes = [
        f"REQUIRED_MISSING:{c.name}"
        for c in contract.columns
        if c.name in never_arrived and c.required
    ]
    codes += ["PARSE_ERROR:last_payment_date"] if cut == "inside_a_field" else []
    assert len(codes) == 12 + (cut == "inside_a_field")
    assert_outcome(day, manifest, {last: sorted(codes)}, {})


def test_ten_megabyte_field_is_stored_whole(day, roles):
    """No length limit in the contract: a 10 MB name is kept whole, in raw when the row is
    valid and in the quarantine's raw text when the row is not."""
    huge = "董" * (10 * 2**20 // 3)
    assert len(huge.encode()) >= 10 * 2**20 - 3
    kept, rejected = roles["clean0"], roles["clean1"]
    edit(
        day,
        {
            kept: {"borrower_name": huge},
            rejected: {"borrower_name": huge + "!", "principal_amount": "12.345"},
        },
    )
    manifest = run_day(DAY, day)
    assert_outcome(day, manifest, {rejected: ["PARSE_ERROR:principal_amount"]}, {})
    assert raw(day).filter(pl.col("borrower_name") == huge).height == 1
    assert quarantine(day)["raw_borrower_name"].to_list() == [huge + "!"]


# --------------------------------------------------------------------------- reruns


def test_resent_identical_file_gives_identical_bytes(settings, corpus_landing, roles):
    """The same file delivered twice: the rerun replaces every partition with the same bytes."""
    shutil.copytree(corpus_landing, settings.landing_dir)  # every feed this time
    edit(
        settings,
        {
            roles["clean0"]: {"principal_amount": "12.345"},
            roles["clean1"]: {"days_past_due": "9", "mobile_phone": "10086"},
        },
    )
    lake = lake_of(settings)
    partitions = [
        lake.partition_file("raw", LOANS, DAY),
        lake.partition_file("quarantine", LOANS, DAY),
        lake.partition_file("curated", "loan_aging", DAY),
        lake.partition_file("raw", "events", DAY),
        lake.partition_file("raw", "contacts", DAY),
        lake.run_manifest(DAY),
    ]

    def fingerprint() -> list[str]:
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in partitions]

    first = run_day(DAY, settings)
    before = fingerprint()
    second = run_day(DAY, settings)
    assert fingerprint() == before
    assert first == second
    assert_outcome(
        settings,
        second,
        {roles["clean0"]: ["PARSE_ERROR:principal_amount"]},
        {"DPD_MISMATCH:days_past_due": 1, "FORMAT_WARNING:mobile_phone": 1},
    )
    assert second["feeds"]["events"]["rows_quarantined"] == 0


# --------------------------------------------------------------------------- GX equivalence

# Edits for consecutive clean cash-loan rows (see ``_gx_corpus``): every rule of the contract
# broken at least once, with the values on which Polars and GX could read a rule differently
# (number and date spellings, int32 bounds, a value ending in a line break, nulls).
GX_CORPUS: list[dict[str, Value]] = [
    {"principal_amount": "12,345.00"},
    {"principal_amount": "NaN", "outstanding_principal": "inf"},
    {"overdue_fees": "12.345", "annual_interest_rate": "0.1234567"},
    {"principal_amount": "-1.00", "overdue_interest": "-0.01", "outstanding_principal": "-3"},
    {"overdue_principal": "-0.01", "overdue_fees": "-0.50", "annual_interest_rate": "-0.1"},
    {"days_past_due": "-3", "forbearance_type": "HOLIDAY"},
    {"principal_amount": "0", "credit_limit": "-5.00"},
    {"annual_interest_rate": "0.360001"},
    {"annual_interest_rate": "0.36", "next_due_amount": "-0.01", "last_payment_amount": "-1"},
    {"origination_date": "2026-02-30", "maturity_date": "2026-3-1"},
    {"origination_date": "+2025-05-08", "next_due_date": "20260308"},
    {"origination_date": "2026-03-02", "maturity_date": "2026-03-01"},
    {"oldest_unpaid_due_date": "2026-03-02", "last_payment_date": "2026-03-05"},
    {"oldest_unpaid_due_date": "2026-02-01"},
    {"forbearance_type": "DEFERRAL"},
    {"forbearance_type": None},
    {"product_code": "CREDIT_LINE", "credit_limit": None},
    {"installments_total": "1", "installments_paid": "2"},
    {"installments_total": "0", "installments_paid": "-1"},
    {"installments_total": "-2147483648", "days_past_due": "2147483647"},
    {"days_past_due": " 12 ", "litigation_flag": "Yes", "dispute_flag": "0"},
    {"bankruptcy_flag": "maybe", "deceased_flag": "", "cease_contact_flag": None},
    {"snapshot_date": "2026-02-28", "account_status": "open"},
    {"snapshot_date": "2026/03/01", "product_code": "PAYDAY"},
    {"currency": "Rmb", "region_code": "1101"},
    {"mobile_phone": "2345678901", "national_id": "11010519491231002"},
    {"national_id": _wrong_check_digit},
    {"region_code": "110105\n", "mobile_phone": "13800138000\n", "currency": "CNY\n"},
    {"national_id": lambda row: row["national_id"][:17] + "x"},
    {"loan_id": "DUP-1"},
    {"loan_id": "DUP-1"},
    {"loan_id": None, "borrower_id": None, "borrower_timezone": None},
    {"borrower_name": None, "mobile_phone": None, "national_id": None, "region_code": None},
    {"overdue_principal": _plus("outstanding_principal", "1"), "days_past_due": "5"},
    {"borrower_id": "   ", "borrower_timezone": "\t"},
    {"loan_id": " "},
    {"loan_id": " L-LEAD", "borrower_id": "B\x00NUL", "borrower_timezone": "Asia/Shangai"},
    {"loan_id": "L" * 65, "borrower_id": "B-TRAIL\u3000", "borrower_timezone": "localtime"},
    {"loan_id": "L-EOL\n", "borrower_id": "B\x85C1", "borrower_timezone": " Asia/Shanghai"},
]


def _gx_corpus(settings, source: pl.DataFrame) -> dict[int, dict[str, Value]]:
    clean = source.with_row_index("line", offset=2).filter(
        (pl.col("product_code") == "CASH_LOAN")
        & (pl.col("days_past_due") == "0")
        & pl.col("oldest_unpaid_due_date").is_null()
        & (pl.col("last_payment_date") < "2026-02-28")
    )["line"]
    changes = dict(zip(clean.to_list()[: len(GX_CORPUS)], GX_CORPUS, strict=True))
    edit(settings, changes)
    return changes


def _stored_results(gx_root: Path, docs_dir: Path) -> list[dict]:
    """Each stored expectation result of a GX root, by group, without the run's own marks."""
    store = gx_validation.results_store(gx_root, docs_dir)
    found = []
    for path in sorted(store.rglob("*.json")):
        results = json.loads(path.read_text())["results"]
        for result in results:
            del result["expectation_config"]["id"]  # a new id each time a suite is stored
        found.append({"group": path.relative_to(store).parts[:2], "results": results})
    return found


# A forked worker's death must not leave a traceback from the pool's own threads either.
@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_gx_counts_equal_polars_counts(day, source, tmp_path):
    _gx_corpus(day, source)
    manifest = run_day(DAY, day, ACCEPT)  # the stage itself raises GX_MISMATCH on a difference
    report = manifest["feeds"][LOANS]

    # 1. Manifest reasons == the quarantine partition's reason codes, counted.
    bad = quarantine(day)
    exploded = bad.explode("reason_codes")["reason_codes"].value_counts()
    from_quarantine = dict(zip(*exploded.to_dict(as_series=False).values(), strict=True))
    assert report["reasons"] == from_quarantine
    assert manifest["rows_quarantined"] == bad.height
    assert manifest["rows_in"] == manifest["rows_valid"] + manifest["rows_quarantined"] == N

    # 2. Polars rule counts (every rule, zeros included) == GX unexpected counts, called the
    #    way validation_stage.check_feed calls it, on a GX root of its own.
    contract = load_contract(day.contracts_dir, LOANS)
    rules = feed_rules(contract, DAY, day)
    flagged = flag_rows(
        type_text(read_text(landing(day), contract, "utf-8"), contract),
        rules,
        derived_columns(contract, day),
    )
    polars_counts = rule_counts(flagged, rules)
    table = suite_table(flagged, rules)

    def suite_counts(suffix: str) -> dict[str, int]:
        """GX's counts on a GX root of their own (``gx<suffix>``, ``docs<suffix>``, ...)."""
        roots = (tmp_path / f"{name}{suffix}" for name in ("gx", "docs", "archive"))
        masks = personal_masks(contract)
        return run_suite(*roots, LOANS, DAY, table, rules, workers=2, masks=masks)

    gx_counts = suite_counts("")
    assert gx_counts == polars_counts
    # ... in forked workers too (what days of PARALLEL_ROWS and more take), in narrow groups.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gx_workers, "PARALLEL_ROWS", 0)
        patch.setattr(gx_validation, "GROUP_CELLS", 1)
        forked = suite_counts("2")
    assert forked == polars_counts
    # ... and when a forked worker dies (killed, out of memory), this process validates the
    # day's groups itself.
    parent, validate = os.getpid(), gx_workers._validate

    def dies_in_a_worker(*args):
        if os.getpid() != parent:
            os._exit(1)
        return validate(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gx_workers, "PARALLEL_ROWS", 0)
        patch.setattr(gx_validation, "GROUP_CELLS", 1)
        patch.setattr(gx_workers, "_validate", dies_in_a_worker)
        survived = suite_counts("4")
    assert survived == polars_counts
    assert report["gx_unexpected_total"] == sum(polars_counts.values())
    # GX's expectation configurations built once per run (``configurations_built_once``): the
    # results it stores are those of GX as shipped, unexpected values and all.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gx_workers, "configurations_built_once", contextlib.nullcontext)
        shipped = suite_counts("3")
    assert shipped == polars_counts
    assert _stored_results(tmp_path / "gx", tmp_path / "docs") == _stored_results(
        tmp_path / "gx3", tmp_path / "docs3"
    )

    # 3. ... and == the manifest's reasons and warnings.
    warning_rules = {r.reason for r in rules if r.warning}
    nonzero = {k: v for k, v in polars_counts.items() if v}
    assert report["reasons"] == {k: v for k, v in nonzero.items() if k not in warning_rules}
    assert manifest["warnings"] == {k: v for k, v in nonzero.items() if k in warning_rules}

    # The corpus breaks every rule kind of the contract at least once.
    kinds = {r.code for r in rules}
    assert {k.split(":")[0] for k in nonzero} == kinds
    unbroken = sorted(k for k, v in polars_counts.items() if not v)
    assert [k for k in unbroken if not k.startswith(("PARSE_ERROR:", "REQUIRED_MISSING:"))] == []


def test_gx_groups_hold_typed_values_first_then_text(settings):
    """GX copies a group's whole frame for a check: a group holds typed values or text, seldom
    both (the sets of columns read together are packed typed first, text last)."""
    contract = load_contract(settings.contracts_dir, LOANS)
    rules = feed_rules(contract, DAY, settings)
    text = {raw_name(c.name) for c in contract.columns}
    text |= {c.name for c in contract.columns if c.dtype == pl.String}
    groups = gx_validation.column_groups(rules, 1_000_000, frozenset(text))
    assert sorted(r.reason for g in groups for r in g) == sorted(r.reason for r in rules)
    columns = [gx_validation._columns_read(g) for g in groups]
    shares = [sum(c in text for c in group) / len(group) for group in columns]
    assert shares == sorted(shares)
    assert sum(0 < share < 1 for share in shares) <= 2  # where typed sets end and text begins
    assert len(groups) > 4 and shares[0] == 0 and shares[-1] == 1


# Raw text the two engines must judge alike: GX's own parsers (``gx_custom.parses_as``) against
# what Polars' ``cast_expr`` types (a non-empty value that does not type is a PARSE_ERROR).
PARSE_CASES = {
    "decimal(18,2)": [
        "0",
        "-0",
        "12",
        "12.3",
        "12.34",
        "12.345",
        "-12.34",
        "+12.34",
        ".5",
        "-.5",
        "5.",
        "-",
        ".",
        "--5",
        "1..5",
        "1.2.3",
        "1e5",
        "1,000.00",
        "1_000",
        "NaN",
        "inf",
        " 12.34 ",
        "\t7\n",
        "1" * 16,
        "1" * 17,
        "1" * 16 + ".99",
        "-" + "9" * 16 + ".9",
        "\u0663",
        "\uff11",
        "12.\u0663",
        "0x10",
        "00012.10",
        "",
        "\u3000",
        "5 .5",
    ],
    "decimal(9,6)": ["0.36", "0.123456", "0.1234567", "123.5", "1234.5", "-0.000001", "1."],
    "int32": [
        "0",
        "-0",
        "007",
        "-007",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "00000000002147483647",
        "+1",
        "1.0",
        "1e3",
        "- 1",
        "--1",
        "-",
        " 42 ",
        "\u0663",
        "",
    ],
    "date": [
        "2026-03-01",
        " 2026-03-01\n",
        "2026-02-29",
        "2024-02-29",
        "1900-02-29",
        "2000-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-3-1",
        "+2026-03-01",
        "02026-03-01",
        "2026/03/01",
        "2026-03-01T00:00",
        "0000-01-01",
        "9999-12-31",
        "2026-03-0\u0663",
        "",
    ],
    "boolean": [
        "true",
        "TRUE",
        "tRuE",
        "1",
        "0",
        "y",
        "Y",
        "yes",
        "YeS",
        "no",
        "N",
        "false",
        "t",
        "f",
        "2",
        "on",
        "\u212aes",
        " yes ",
        "yes.",
        "",
    ],
}


@pytest.mark.parametrize("by_distinct_value", [False, True])
@pytest.mark.parametrize("physical_type", sorted(PARSE_CASES))
def test_gx_parsers_agree_with_polars_casts(physical_type, by_distinct_value, monkeypatch):
    """... row by row, and once per distinct value (what big days of repeating text take)."""
    import pandas as pd

    from loanrisk.quality import gx_custom
    from loanrisk.quality.casting import cast_expr
    from loanrisk.quality.contracts import Column, polars_dtype
    from loanrisk.quality.gx_custom import parses_as
    from loanrisk.quality.parsing import raw_name

    monkeypatch.setattr(gx_custom, "few_distinct", lambda rows, sample, found: by_distinct_value)
    values = [*PARSE_CASES[physical_type], None] * 2
    dtype = polars_dtype(physical_type, "test")
    column = Column("v", dtype, physical_type, required=False, unique=False, description="")
    typed = pl.DataFrame({raw_name("v"): values}).select(cast_expr(column))["v"]
    gx = parses_as(pd.Series(values, dtype="str"), physical_type)
    assert gx.tolist() == typed.is_not_null().to_list()


@pytest.mark.parametrize("physical_type", [*sorted(PARSE_CASES), "timestamp with time zone"])
def test_typing_by_distinct_value_equals_typing_every_row(physical_type):
    """A column of few distinct texts is typed once per text (``casting.type_text`` on big
    days): the same values, nulls and parse failures as ``cast_expr`` row by row."""
    from loanrisk.quality.casting import _typed_by_distinct, cast_expr
    from loanrisk.quality.contracts import Column, polars_dtype
    from loanrisk.quality.parsing import raw_name

    dtype = polars_dtype(physical_type, "test")
    column = Column("v", dtype, physical_type, required=False, unique=False, description="")
    times = [value for name, value, _ in EVENT_CASES if name == "event_time"]
    values = [*PARSE_CASES.get(physical_type, times), None]
    text = pl.DataFrame({raw_name("v"): values * 3}, schema={raw_name("v"): pl.String})
    looked_up = text.select(_typed_by_distinct(text, [column])["v"])
    assert looked_up.equals(text.select(cast_expr(column)))
    assert looked_up["v"].null_count() > 3  # the cases hold failures as well as values


def test_blank_value_pattern_agrees_between_engines():
    """BLANK_VALUE's class of white space: Polars' and pyarrow's (pandas') regex engines take
    it alike, and it is Polars' notion of white space (``strip_chars``)."""
    import pandas as pd

    from loanrisk.quality.rules import NOT_BLANK

    chars = [chr(c) for c in range(0x3001) if not 0xD800 <= c < 0xE000]
    values = [*chars, "", "  a ", "\u3000\u3000", "\x1c", "a\nb"]
    polars = pl.Series(values).str.contains(NOT_BLANK)
    pandas = pd.Series(values, dtype="str").str.contains(NOT_BLANK)
    assert pandas.tolist() == polars.to_list()
    assert polars.to_list() == (pl.Series(values).str.strip_chars() != "").to_list()


def test_resident_id_check_digit_by_base_13_equals_the_weighted_sum():
    from loanrisk.quality.rules import (
        RESIDENT_ID_CHECK_CHARS,
        RESIDENT_ID_SHAPE,
        RESIDENT_ID_WEIGHTS,
        resident_id_check_digit_ok,
    )

    ids = [f"{n:017d}" for n in range(0, 10**17, 10**17 // 4999 + 1)] + ["11010519491231002"]
    ids = [i + c for i in ids for c in "0123456789X"]

    def check(text: str) -> bool:
        total = sum(int(d) * w for d, w in zip(text[:17], RESIDENT_ID_WEIGHTS, strict=True))
        return text[17] == RESIDENT_ID_CHECK_CHARS[total % 11]

    frame = pl.DataFrame({"id": ids})
    assert frame["id"].str.contains(RESIDENT_ID_SHAPE).all()
    assert frame.select(resident_id_check_digit_ok("id"))["id"].to_list() == list(map(check, ids))


EVENT_CASES: list[tuple[str, str, list[str]]] = [
    ("event_time", "2026-03-01T10:00:00", ["PARSE_ERROR:event_time"]),  # no offset
    ("event_time", "2026-03-01T10:00+08:00", ["PARSE_ERROR:event_time"]),  # no seconds
    ("event_time", "2026-03-01T10:00:00z", ["PARSE_ERROR:event_time"]),  # lower-case zone
    ("event_time", "2026-03-01t10:00:00+08:00", ["PARSE_ERROR:event_time"]),
    ("event_time", "2026-03-01T10:00:60+08:00", ["PARSE_ERROR:event_time"]),  # leap second
    ("event_time", "2026-3-1T10:00:00+08:00", ["PARSE_ERROR:event_time"]),
    ("event_time", "2026-03-01 10:00:00+08:00", []),  # space separator: RFC 3339 allows it
    ("event_time", "2026-03-01T10:00:00.123+0800", []),
    ("event_time", "2026-03-01T02:00:00Z", []),
    ("event_type", "LOGOUT", ["ENUM_OUTSIDE_SET:event_type"]),
    ("amount", "1,000.00", ["PARSE_ERROR:amount"]),
]


def test_events_timestamps_agree_between_engines(settings, corpus_landing):
    """Timestamps with a time zone: what Polars parses, GX accepts, and nothing else."""
    shutil.copytree(corpus_landing, settings.landing_dir)
    path = settings.landing_dir / EVENTS
    events = pl.read_csv(path, infer_schema=False)
    rows = events.to_dicts()
    for i, (column, value, _) in enumerate(EVENT_CASES):
        rows[10 * i][column] = value
    pl.DataFrame(rows, schema=events.schema).write_csv(path)
    manifest = run_day(DAY, settings, ACCEPT)
    expected = {10 * i + 2: codes for i, (_, _, codes) in enumerate(EVENT_CASES) if codes}
    assert reasons_by_line(settings, "events") == expected
    report = manifest["feeds"]["events"]
    assert report["rows_quarantined"] == len(expected)
    assert report["rows_in"] == report["rows_valid"] + report["rows_quarantined"] == events.height
    assert report["reasons"] == dict(Counter(c for codes in expected.values() for c in codes))


def test_header_only_optional_feeds_are_days_without_events_or_contacts(settings, corpus_landing):
    """No contacts or events that day is news, not a broken file: zero rows, day published."""
    shutil.copytree(corpus_landing, settings.landing_dir)
    for feed in ("events", "contacts"):
        path = settings.landing_dir / f"{feed}_{DAY}.csv"
        path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    manifest = run_day(DAY, settings, ACCEPT)
    assert manifest["status"] == "published"
    for feed in ("events", "contacts"):
        report = manifest["feeds"][feed]
        assert report["rows_in"] == report["rows_valid"] == report["rows_quarantined"] == 0


# --------------------------------------------------------------------------- a big day


@pytest.mark.slow
def test_big_day_with_two_percent_bad_rows(settings, config_dir):
    """~100k loans, 2% bad: the QUARANTINE_SHARE gate stops the day and nothing is published;
    accepted by an operator, the day publishes with the exact quarantine and the acceptance
    recorded."""
    from loanrisk.synth import generate

    generate(DAY, 1, 100_000, 5, settings.landing_dir, config_dir)
    for optional in ("events", "contacts"):  # the loans feed is what this case is about
        (settings.landing_dir / f"{optional}_2026-03-01.csv").unlink()
    path = landing(settings)
    frame = pl.read_csv(path, infer_schema=False)
    index = pl.int_range(pl.len())
    bad = index % 50 == 7
    kind = (index // 50) % 4
    frame = frame.with_columns(
        pl.when(bad & (kind == 0))
        .then(pl.lit("12,345.00"))
        .otherwise("principal_amount")
        .alias("principal_amount"),
        pl.when(bad & (kind == 1))
        .then(pl.lit("OPEN"))
        .otherwise("account_status")
        .alias("account_status"),
        pl.when(bad & (kind == 2)).then(pl.lit("cny")).otherwise("currency").alias("currency"),
        pl.when(bad & (kind == 3)).then(None).otherwise("borrower_id").alias("borrower_id"),
    )
    frame.write_csv(path)
    rows = frame.height
    n_bad = len(range(7, rows, 50))
    expected = {
        "PARSE_ERROR:principal_amount": len(range(7, rows, 200)),
        "ENUM_OUTSIDE_SET:account_status": len(range(57, rows, 200)),
        "PATTERN_MISMATCH:currency": len(range(107, rows, 200)),
        "REQUIRED_MISSING:borrower_id": len(range(157, rows, 200)),
    }
    assert rows > 99_000 and sum(expected.values()) == n_bad

    with pytest.raises(GateError) as excinfo:
        run_day(DAY, settings)
    message = str(excinfo.value)
    assert excinfo.value.gate == "QUARANTINE_SHARE" and "\n" not in message
    assert message.startswith(f"[GATE] {FILE}: gate QUARANTINE_SHARE failed: {n_bad} of {rows}")
    lake = lake_of(settings)
    assert stored_manifest(settings)["status"] == "failed"
    assert not lake.partition("curated", "loan_aging", DAY).exists()
    assert quarantine(settings).height == n_bad  # kept for diagnosis

    reason = "2% bad rows, see ticket RISK-1234"
    manifest = run_day(DAY, settings, {"QUARANTINE_SHARE": reason})
    assert manifest["status"] == "published"
    assert manifest["rows_quarantined"] == n_bad == quarantine(settings).height
    assert manifest["rows_valid"] == rows - n_bad == aging(settings).height
    assert manifest["feeds"][LOANS]["reasons"] == expected
    assert manifest["accepted_gates"] == {"QUARANTINE_SHARE": reason}
    gate = share_gate(manifest)
    assert gate["status"] == "accepted" and gate["reason"] == reason
    assert gate["value"] == round(n_bad / rows, 6)
    lines = quarantine(settings)["source_line"].to_list()
    assert lines == [i + 2 for i in range(7, rows, 50)]
