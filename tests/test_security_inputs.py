"""Security corpus of the landing files (DESIGN.md §4 v2: identifiers, time zone, control file),
beside the bad-input corpus (tests/test_bad_inputs.py).

Each case is a way a malformed feed or a careless hand-off used to publish a wrong day: an ID
that differs from another only by white space or a control character, an unknown time zone
contacted on a guessed clock, a truncated or altered file, a 0-byte optional feed stopping the
day. Each runs the real day (``run_day``) on a copy of one small synthetic day, or the rule
itself on both engines (Polars and Great Expectations).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import sys
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from conftest import CORPUS_DAY, CORPUS_FILE, CORPUS_LOANS, collections_policy

from loanrisk.config import load_settings
from loanrisk.errors import ConfigError, GateError
from loanrisk.lake.storage import lake_of
from loanrisk.pipeline.runner import run_day

DAY, FILE, N = CORPUS_DAY, CORPUS_FILE, CORPUS_LOANS  # the corpus's first day (conftest)
DAY2 = dt.date(2026, 3, 2)
DONE = "loans_2026-03-01.done"
EVENTS = "events_2026-03-01.csv"
LOANS = "loan_snapshot"
ACCEPT = {"QUARANTINE_SHARE": "security corpus"}
UNKNOWN_ZONE = "TIMEZONE_UNKNOWN:borrower_timezone"


# --------------------------------------------------------------------------- fixtures, helpers


def clean_lines(source: pl.DataFrame) -> list[int]:
    """1-based file lines (header = line 1) of ACTIVE instalment loans with nothing overdue:
    editing one of them changes no other rule's verdict."""
    lines = source.with_row_index("line", offset=2)
    clean = lines.filter(
        (pl.col("account_status") == "ACTIVE")
        & pl.col("product_code").is_in(["CASH_LOAN", "INSTALLMENT"])
        & (pl.col("days_past_due") == "0")
        & pl.col("oldest_unpaid_due_date").is_null()
        & (pl.col("forbearance_type") == "NONE")
    )
    return clean["line"].to_list()[::5]


@pytest.fixture
def day(corpus_day):
    """The corpus's data_root (conftest ``corpus_day``)."""
    return corpus_day


@pytest.fixture(scope="session")
def source(corpus_source):
    """The corpus's first loans file as text (conftest ``corpus_source``)."""
    return corpus_source


def edit(path: Path, changes: dict[int, dict[str, str]]) -> None:
    """Rewrite a landing file with ``changes`` (line -> column -> value) applied."""
    frame = pl.read_csv(path, infer_schema=False)
    rows = frame.to_dicts()
    for line, columns in changes.items():
        rows[line - 2].update(columns)
    pl.DataFrame(rows, schema=frame.schema).write_csv(path)


def reasons_by_line(settings, feed: str = LOANS) -> dict[int, list[str]]:
    path = lake_of(settings).partition_file("quarantine", feed, DAY)
    bad = pl.read_parquet(path)
    return dict(zip(bad["source_line"].to_list(), bad["reason_codes"].to_list(), strict=True))


def curated(settings, table: str, day: dt.date = DAY) -> pl.DataFrame:
    return pl.read_parquet(lake_of(settings).partition_file("curated", table, day))


def control_file(data: Path, rows: int | None = None, sha256: str | None = None) -> Path:
    """The lending core's ``.done`` beside ``data``: its name, row count and sha256 (of the file
    as it is now unless given)."""
    if rows is None:
        rows = pl.read_csv(data, infer_schema=False).height
    digest = sha256 or hashlib.sha256(data.read_bytes()).hexdigest()
    done = data.with_suffix(".done")
    done.write_text(json.dumps({"file": data.name, "rows": rows, "sha256": digest}))
    return done


def assert_day_stopped(settings, excinfo, gate: str, file_name: str, *fragments: str) -> None:
    """A file gate stopped the day: one line naming the file and the gate, nothing published."""
    error = excinfo.value
    assert error.gate == gate and error.file_name == file_name
    assert "\n" not in str(error)
    for fragment in fragments:
        assert fragment in str(error)
    lake = lake_of(settings)
    manifest = json.loads(lake.run_manifest(DAY).read_text(encoding="utf-8"))
    assert manifest["status"] == "failed" and manifest["failure"]["gate"] == gate
    assert not lake.partition("curated", "loan_aging", DAY).exists()
    assert not lake.partition("raw", LOANS, DAY).exists()


def project_with(config_dir: Path, tmp_path: Path, require_control_file: str) -> Path:
    """A copy of the project's config and contracts with pipeline.yaml's
    ``require_control_file`` set to ``require_control_file`` (YAML text)."""
    root = tmp_path / "project"
    for folder in ("config", "data_contracts"):
        shutil.copytree(config_dir.parent / folder, root / folder)
    path = root / "config" / "pipeline.yaml"
    text, found = re.subn(
        r"(?m)^require_control_file: false",
        f"require_control_file: {require_control_file}",
        path.read_text(encoding="utf-8"),
    )
    assert found == 1
    path.write_text(text, encoding="utf-8")
    return root / "config"


# --------------------------------------------------------------------------- identifiers


def test_ids_are_checked_and_compared_as_written(day, source):
    """loan_id and borrower_id: 1-64 characters, no surrounding white space, no control
    character; otherwise INVALID_ID:<column> (a blank one stays BLANK_VALUE). ``" L1"`` beside
    ``L1`` is not a second loan."""
    lines = clean_lines(source)
    loan = dict(zip(range(2, N + 2), source["loan_id"].to_list(), strict=True))
    borrower = dict(zip(range(2, N + 2), source["borrower_id"].to_list(), strict=True))
    twin, trailing, nul, tab, wide, long, delete, fine = lines[:8]
    zero_width, bidi = lines[9:11]
    changes = {
        twin: {"loan_id": " " + loan[lines[8]]},  # the other row, L..., stays and publishes
        trailing: {"loan_id": loan[trailing] + "  "},
        nul: {"loan_id": loan[nul][:4] + "\x00" + loan[nul][4:]},
        tab: {"borrower_id": borrower[tab] + "\t"},
        wide: {"borrower_id": "\u3000" + borrower[wide]},  # ideographic space
        long: {"loan_id": "L" * 65},
        delete: {"loan_id": loan[delete] + "\x7f", "borrower_id": "B\x85" + borrower[delete]},
        fine: {"loan_id": "L" + "9" * 63},  # 64 characters: an ID
        zero_width: {"loan_id": loan[zero_width] + "\u200b"},  # looks like the loan itself
        bidi: {"borrower_id": "\u202e" + borrower[bidi]},  # displays reversed
    }
    edit(day.landing_dir / FILE, changes)
    manifest = run_day(DAY, day, ACCEPT)
    expected = {
        twin: ["INVALID_ID:loan_id"],
        trailing: ["INVALID_ID:loan_id"],
        nul: ["INVALID_ID:loan_id"],
        tab: ["INVALID_ID:borrower_id"],
        wide: ["INVALID_ID:borrower_id"],
        long: ["INVALID_ID:loan_id"],
        delete: ["INVALID_ID:borrower_id", "INVALID_ID:loan_id"],
        zero_width: ["INVALID_ID:loan_id"],
        bidi: ["INVALID_ID:borrower_id"],
    }
    assert reasons_by_line(day) == dict(sorted(expected.items()))
    assert manifest["rows_quarantined"] == len(expected)
    assert manifest["rows_valid"] == N - len(expected)
    published = curated(day, "loan_aging")
    assert published.filter(pl.col("loan_id") == loan[lines[8]]).height == 1
    assert "L" + "9" * 63 in published["loan_id"].to_list()
    for column in ("loan_id", "borrower_id"):
        ids = published[column]
        assert (ids == ids.str.strip_chars()).all()
        assert not ids.str.contains(r"[\x00-\x1f\x7f-\x9f\p{Cf}]").any()


def test_trailing_spaces_on_day_two_do_not_split_history(settings, corpus_landing):
    """Day 2 sends three loans with a trailing space: they are quarantined, not published as
    three new loans beside the history of the real ones."""
    settings.landing_dir.mkdir(parents=True)
    for name in (FILE, "loans_2026-03-02.csv"):
        shutil.copy(corpus_landing / name, settings.landing_dir / name)
    run_day(DAY, settings)
    second = settings.landing_dir / "loans_2026-03-02.csv"
    ids = pl.read_csv(second, infer_schema=False)["loan_id"].to_list()
    lines = [10, 100, 200]
    edit(second, {line: {"loan_id": ids[line - 2] + " "} for line in lines})
    manifest = run_day(DAY2, settings, ACCEPT)
    assert manifest["feeds"][LOANS]["reasons"] == {"INVALID_ID:loan_id": 3}
    aging = curated(settings, "loan_aging", DAY2)
    assert (aging["loan_id"] == aging["loan_id"].str.strip_chars()).all()
    first_day_ids = set(curated(settings, "loan_aging")["loan_id"].to_list())
    new = set(aging["loan_id"].to_list()) - first_day_ids
    assert all(i.startswith("L") and i == i.strip() for i in new)


def _format_characters() -> list[str]:
    """Every Unicode format character (Cf) Python knows: zero-width, bidi, BOM, tags ..."""
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]


def _id_values() -> list[str]:
    chars = [chr(c) for c in range(0x3001) if not 0xD800 <= c < 0xE000]
    chars += ["\u202e", "\ufeff", "\U0001f600", *_format_characters()]
    values = [v for c in chars for v in (c, "L" + c, c + "L", "L" + c + "L")]
    values += ["", "L" * 63, "L" * 64, "L" * 65, "中" * 64, "中" * 65, "L1\n", "\nL1", " "]
    return values


def test_id_rule_agrees_between_engines():
    """INVALID_ID: the Polars rule and the GX expectation judge every character alike, at the
    start, inside and at the end of an ID, and the length in characters, not bytes."""
    import pandas as pd

    from loanrisk.quality.gx_values import identifier_ok
    from loanrisk.quality.rules import invalid_identifier

    values = _id_values()
    polars = pl.DataFrame({"id": values}).select(invalid_identifier("id", 64))["id"]
    pandas = identifier_ok(pd.Series(values, dtype="str"), 64)
    assert (~pandas).tolist() == polars.to_list()
    judged = dict(zip(values, polars.to_list(), strict=True))
    assert not judged["L" * 64] and judged["L" * 65]
    assert not judged["中" * 64] and judged["中" * 65]
    assert judged[" L"] and judged["L "] and judged["L\x00L"] and judged["L1\n"]
    assert judged["L\x7fL"] and judged["L\x9fL"] and not judged["L\xa0L"]
    assert not judged[" "] and not judged[""]  # blank: BLANK_VALUE's business
    assert judged["L\u200bL"] and judged["L\u202e"] and judged["\ufeffL"] and judged["\u2066"]
    assert not judged["L\u2000L"] and not judged["L\U0001f600L"]


def test_invisible_and_bidi_characters_are_not_ids():
    """A format character (Unicode Cf) anywhere in an ID is INVALID_ID on both engines:
    ``"L12\u200b"`` would otherwise publish a second loan that looks like L12, and U+202E
    shows an ID reversed. The rule's list covers every Cf Python knows (a newer Unicode with
    more fails here first)."""
    import pandas as pd

    from loanrisk.quality.gx_values import identifier_ok
    from loanrisk.quality.rules import invalid_identifier

    values = [v for c in _format_characters() for v in (c, "L12" + c, c + "L12", "L1" + c + "2")]
    assert len(values) >= 4 * 160
    polars = pl.DataFrame({"id": values}).select(invalid_identifier("id", 64))["id"]
    assert polars.all()
    assert not identifier_ok(pd.Series(values, dtype="str"), 64).any()


@pytest.mark.parametrize(
    ("feed", "columns"),
    [
        (LOANS, ["borrower_id", "loan_id"]),
        ("events", ["borrower_id"]),
        ("contacts", ["borrower_id", "loan_id"]),
    ],
)
def test_every_feed_checks_its_ids(settings, feed, columns):
    from loanrisk.quality.contracts import load_contract
    from loanrisk.quality.validation import feed_rules

    rules = feed_rules(load_contract(settings.contracts_dir, feed), DAY, settings)
    checked = sorted(r.column for r in rules if r.code == "INVALID_ID")
    assert checked == columns
    assert all(not r.warning for r in rules if r.code == "INVALID_ID")


# --------------------------------------------------------------------------- time zones


def _queued_borrower(source: pl.DataFrame) -> str:
    """A borrower in the collections queue: an ACTIVE loan past due, no suppressing flag."""
    late = source.filter(
        (pl.col("account_status") == "ACTIVE")
        & (pl.col("days_past_due").cast(pl.Int32) >= 5)
        & (pl.col("deceased_flag") == "false")
        & (pl.col("bankruptcy_flag") == "false")
        & (pl.col("dispute_flag") == "false")
    )
    return late["borrower_id"].sort()[0]


def test_unknown_time_zone_is_a_warning_and_holds_the_borrower(day, source):
    """An unknown borrower_timezone is counted (TIMEZONE_UNKNOWN), the row published, and the
    borrower held in the queue with no contact window: never contacted on a guessed clock."""
    held = _queued_borrower(source)
    lines = source.with_row_index("line", offset=2)
    theirs = lines.filter(pl.col("borrower_id") == held)["line"].to_list()
    other, spaced = [line for line in clean_lines(source) if line not in theirs][:2]
    changes = {line: {"borrower_timezone": "Asia/Shangai"} for line in theirs}
    changes[other] = {"borrower_timezone": "localtime"}  # a host file, not an IANA zone
    changes[spaced] = {"borrower_timezone": " Asia/Shanghai"}
    edit(day.landing_dir / FILE, changes)
    manifest = run_day(DAY, day)
    assert manifest["status"] == "published" and manifest["rows_quarantined"] == 0
    assert manifest["warnings"] == {UNKNOWN_ZONE: len(theirs) + 2}
    queue = curated(day, "collections_queue").filter(pl.col("borrower_id") == held)
    row = queue.row(0, named=True)
    assert row["hold_reason"] == "TIMEZONE_UNKNOWN"
    assert row["contact_allowed"] is False and row["within_capacity"] is False
    assert row["contact_window_start_utc"] is None and row["contact_window_end_utc"] is None
    edited = lines.filter(pl.col("line").is_in([other, spaced]))["borrower_id"].to_list()
    others = curated(day, "collections_queue").filter(~pl.col("borrower_id").is_in([held, *edited]))
    assert others["contact_window_start_utc"].null_count() == 0
    assert (others["hold_reason"] != "TIMEZONE_UNKNOWN").all()


UNKNOWN_ZONES = ["Mars/Olympus", "asia/shanghai", "localtime", "Factory", "../etc/passwd", ""]


def test_an_unknown_zone_gets_no_contact_window():
    from loanrisk.domain.collections_holds import contact_windows

    got = contact_windows(
        ["Asia/Shanghai", "America/New_York", *UNKNOWN_ZONES, None], collections_policy(), DAY
    )
    windows = {r[0]: (r[1], r[2]) for r in got.iter_rows()}
    assert windows["Asia/Shanghai"][0] == dt.datetime(2026, 3, 2, 0, tzinfo=dt.UTC)
    assert windows["America/New_York"][0] == dt.datetime(2026, 3, 2, 13, tzinfo=dt.UTC)
    for zone in [*UNKNOWN_ZONES, None]:
        assert windows[zone] == (None, None), zone


def test_an_unknown_zone_holds_the_borrower_before_any_other_hold():
    from loanrisk.domain.collections_holds import with_timezone_hold

    queue = pl.DataFrame(
        {
            "borrower_id": ["B1", "B2", "B3", "B4"],
            "borrower_timezone": ["Asia/Shanghai", "Mars/Olympus", None, "Asia/Urumqi"],
            "hold_reason": [None, "CONTACT_CAP", None, "PROMISE_TO_PAY"],
        }
    ).with_columns(pl.col("hold_reason").is_null().alias("contact_allowed"))
    got = with_timezone_hold(queue.lazy()).collect()
    assert got["hold_reason"].to_list() == [
        None,
        "TIMEZONE_UNKNOWN",
        "TIMEZONE_UNKNOWN",
        "PROMISE_TO_PAY",
    ]
    assert got["contact_allowed"].to_list() == [True, False, False, False]


def test_known_zones_are_the_iana_names_only():
    from loanrisk.domain.timezones import known_timezones

    zones = known_timezones()
    assert {"Asia/Shanghai", "Asia/Urumqi", "America/New_York", "UTC"} <= zones
    assert not zones & set(UNKNOWN_ZONES)


# --------------------------------------------------------------------------- control file


def _cut_lines(path: Path, share: float) -> int:
    """Keep the header and the first ``share`` of the data lines; the rows kept."""
    lines = path.read_bytes().split(b"\n")
    kept = int((len(lines) - 2) * share)
    path.write_bytes(b"\n".join(lines[: 1 + kept]) + b"\n")
    return kept


def test_a_matching_control_file_publishes(day):
    control_file(day.landing_dir / FILE)
    manifest = run_day(DAY, day)
    assert manifest["status"] == "published" and manifest["rows_in"] == N


def test_a_truncated_file_stops_the_day_on_its_first_day(day):
    """Cut to 88% of its lines after the core wrote the control file: FILE_INCOMPLETE naming
    both counts (a first day has no row-count gate to catch it)."""
    path = day.landing_dir / FILE
    control_file(path)
    kept = _cut_lines(path, 0.88)
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_day_stopped(day, excinfo, "FILE_INCOMPLETE", FILE, f"{kept} rows", f"{N} rows", DONE)


def test_a_file_cut_inside_a_row_stops_the_day(day):
    path = day.landing_dir / FILE
    control_file(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_day_stopped(day, excinfo, "FILE_INCOMPLETE", FILE, f"{N} rows", "sha256")


def test_an_altered_file_with_the_same_rows_stops_the_day(day, source):
    path = day.landing_dir / FILE
    control_file(path)
    line = clean_lines(source)[0]
    edit(path, {line: {"outstanding_principal": "1.00"}})
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_day_stopped(day, excinfo, "FILE_INCOMPLETE", FILE, "sha256", f"{N} rows")


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"file": "loans_2026-03-01.csv", "rows": "300", "sha256": "x"}',
        '{"file": "loans_2026-02-28.csv", "rows": 300, "sha256": "%s"}',
        '{"file": "loans_2026-03-01.csv", "rows": 300}',
    ],
    ids=["not_json", "not_an_object", "rows_as_text", "another_file", "no_sha256"],
)
def test_a_broken_control_file_stops_the_day(day, text):
    path = day.landing_dir / FILE
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".done").write_text(text.replace("%s", digest))
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_day_stopped(day, excinfo, "FILE_INCOMPLETE", FILE, DONE)


def test_an_optional_feed_is_checked_against_its_control_file(day, corpus_landing):
    events = day.landing_dir / EVENTS
    shutil.copy(corpus_landing / EVENTS, events)
    control_file(events)
    kept = _cut_lines(events, 0.5)
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, day)
    assert_day_stopped(day, excinfo, "FILE_INCOMPLETE", EVENTS, f"{kept} rows")


def test_a_required_control_file_not_there_means_not_arrived(config_dir, tmp_path, corpus_landing):
    """require_control_file: true: without its .done the loans file has not arrived (the
    sensor waits, ``run`` stops with FILE_MISSING); with it, the day runs."""
    from loanrisk.airflow.sensors import landing_file_ready

    config = project_with(config_dir, tmp_path, "true")
    settings = load_settings(config, tmp_path / "data")
    assert settings.pipeline.require_control_file is True
    settings.landing_dir.mkdir(parents=True)
    shutil.copy(corpus_landing / FILE, settings.landing_dir / FILE)
    params = {"data_root": str(settings.data_root), "config_dir": str(config)}
    assert not landing_file_ready(str(DAY), params)
    with pytest.raises(GateError) as excinfo:
        run_day(DAY, settings)
    assert_day_stopped(settings, excinfo, "FILE_MISSING", FILE, DONE)
    control_file(settings.landing_dir / FILE)
    assert landing_file_ready(str(DAY), params)
    assert run_day(DAY, settings)["status"] == "published"


def test_require_control_file_is_off_by_default_and_a_boolean(config_dir, tmp_path):
    assert load_settings(config_dir, tmp_path / "d").pipeline.require_control_file is False
    config = project_with(config_dir, tmp_path, "maybe")
    with pytest.raises(ConfigError, match="require_control_file"):
        load_settings(config, tmp_path / "data")


def test_synth_writes_a_control_file_per_feed_and_the_same_data(tmp_path, config_dir):
    from loanrisk.cli.main import main

    args = ["--days", "2", "--loans", "80", "--seed", "5", "--config", str(config_dir)]
    assert main(["synth", "--start", str(DAY), "--out", str(tmp_path / "a"), *args]) == 0
    from loanrisk.synth import generate

    generate(DAY, 2, 80, 5, tmp_path / "b", config_dir)
    data = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(data) == 6
    dones = sorted(p.name for p in (tmp_path / "a").glob("*.done"))
    assert dones == sorted(name.replace(".csv", ".done") for name in data)
    for name in data:
        written = (tmp_path / "a" / name).read_bytes()
        assert written == (tmp_path / "b" / name).read_bytes()
        done = json.loads((tmp_path / "a" / name).with_suffix(".done").read_text())
        rows = pl.read_csv(tmp_path / "a" / name, infer_schema=False).height
        digest = hashlib.sha256(written).hexdigest()
        assert done == {"file": name, "rows": rows, "sha256": digest}


# --------------------------------------------------------------------------- empty optional feed


def test_a_zero_byte_optional_feed_is_absent(day):
    """A 0-byte events file is no events file: a warning, like a missing optional feed."""
    (day.landing_dir / EVENTS).write_bytes(b"")
    manifest = run_day(DAY, day)
    assert manifest["status"] == "published"
    events = manifest["feeds"]["events"]
    assert events["status"] == "missing" and events["input"] == {"file": EVENTS, "bytes": 0}
    assert events["warnings"] == {"FEED_MISSING:events": 1}
