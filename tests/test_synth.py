"""``loanrisk synth``: deterministic, contract-shaped, valid and realistic landing files."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from loanrisk.config import load_settings
from loanrisk.errors import ConfigError
from loanrisk.quality.contracts import Contract, load_contract
from loanrisk.synth import generate

START = dt.date(2026, 3, 1)
DAYS = 75
LOANS = 400
SEED = 11
FEEDS = {"loans": "loan_snapshot", "events": "events", "contacts": "contacts"}
TEXT_FORMATS = {
    "money": re.compile(r"^[0-9]+\.[0-9]{2}$"),
    "rate": re.compile(r"^[0-9]\.[0-9]{6}$"),
    "date": re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    "timestamp": re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\+08:00$"),
    "boolean": re.compile(r"^(true|false)$"),
    "integer": re.compile(r"^[0-9]+$"),
}
PHONE = re.compile(r"^1[3-9][0-9]{9}$")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def day_file(out: Path, feed: str, day: dt.date) -> Path:
    return out / f"{feed}_{day.isoformat()}.csv"


def run_days() -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(DAYS)]


@pytest.fixture(scope="module")
def contracts(config_dir) -> dict[str, Contract]:
    folder = load_settings(config_dir).contracts_dir
    return {feed: load_contract(folder, name) for feed, name in FEEDS.items()}


@pytest.fixture(scope="module")
def book(tmp_path_factory, config_dir):
    out = tmp_path_factory.mktemp("synth-book")
    return generate(START, DAYS, LOANS, SEED, out, config_dir)


def text_format(dtype: pl.DataType) -> str | None:
    if isinstance(dtype, pl.Decimal):
        return "money" if dtype.scale == 2 else "rate"
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Boolean:
        return "boolean"
    return "integer" if dtype.is_integer() else None


def typed(path: Path, contract: Contract) -> pl.DataFrame:
    """Read a landing file as text, check every value's text form, cast strictly by contract."""
    raw = pl.read_csv(path, infer_schema=False)
    assert raw.columns == contract.column_names, path.name
    casts = []
    for col in contract.columns:
        values = raw[col.name]
        assert col.required is False or values.null_count() == 0, f"{path.name}: {col.name} null"
        fmt = text_format(col.dtype)
        for value in values.drop_nulls().unique().to_list():
            assert fmt is None or TEXT_FORMATS[fmt].match(value), f"{col.name}: {value!r}"
            assert not col.enum or value in col.enum, f"{col.name}: {value!r}"
            assert not col.pattern or re.match(col.pattern, value), f"{col.name}: {value!r}"
        if col.unique:
            assert values.n_unique() == len(values), f"{path.name}: {col.name} not unique"
        expr = pl.col(col.name)
        if fmt == "timestamp":
            casts.append(expr.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC"))
        elif fmt == "date":
            casts.append(expr.str.to_date("%Y-%m-%d"))
        elif fmt == "boolean":
            casts.append(expr == "true")
        else:
            casts.append(expr.cast(col.dtype, strict=True))
    return raw.with_columns(casts)


@pytest.fixture(scope="module")
def loans(book, contracts) -> pl.DataFrame:
    """Every day's loan snapshot, typed, with overdue_amount; one frame."""
    frames = [typed(day_file(book.out_dir, "loans", d), contracts["loans"]) for d in run_days()]
    overdue = pl.col("overdue_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    return pl.concat(frames).with_columns(overdue.alias("overdue_amount"))


@pytest.fixture(scope="module")
def events(book, contracts) -> pl.DataFrame:
    return pl.concat(
        typed(day_file(book.out_dir, "events", d), contracts["events"]).with_columns(
            pl.lit(d).alias("day")
        )
        for d in run_days()
    )


@pytest.fixture(scope="module")
def contacts(book, contracts) -> pl.DataFrame:
    return pl.concat(
        typed(day_file(book.out_dir, "contacts", d), contracts["contacts"]).with_columns(
            pl.lit(d).alias("day")
        )
        for d in run_days()
    )


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes(tmp_path, config_dir):
    first = generate(START, 3, 250, 5, tmp_path / "a", config_dir)
    second = generate(START, 3, 250, 5, tmp_path / "b", config_dir)
    names = sorted(p.name for p in first.files)
    assert names == sorted(p.name for p in second.files)
    assert len(names) == 9
    for name in names:
        assert sha256(tmp_path / "a" / name) == sha256(tmp_path / "b" / name), name


def test_another_seed_gives_other_files(tmp_path, config_dir):
    generate(START, 2, 250, 5, tmp_path / "a", config_dir)
    generate(START, 2, 250, 6, tmp_path / "b", config_dir)
    for feed in FEEDS:
        for day in (START, START + dt.timedelta(days=1)):
            name = day_file(Path(), feed, day).name
            assert sha256(tmp_path / "a" / name) != sha256(tmp_path / "b" / name), name


def test_summary_counts_the_rows_written(tmp_path, config_dir):
    summary = generate(START, 2, 120, 3, tmp_path, config_dir)
    assert [d.date for d in summary.per_day] == [START, START + dt.timedelta(days=1)]
    for counts in summary.per_day:
        for feed in FEEDS:
            rows = pl.read_csv(day_file(tmp_path, feed, counts.date), infer_schema=False).height
            assert rows == getattr(counts, feed), (feed, counts.date)
    assert all(path.is_file() for path in summary.files)
    assert not list(tmp_path.glob(".*.tmp"))


# --- file shape and identities ------------------------------------------------------------


def test_every_file_follows_its_contract(book, loans, events, contacts):
    # the fixtures parse every file strictly; here: keys and dates agree with the file name
    assert loans.group_by("snapshot_date").agg(pl.col("loan_id").is_unique().all())["loan_id"].all()
    stamps = events.select(pl.col("event_time").dt.convert_time_zone("Asia/Shanghai").dt.date())
    assert (stamps.to_series() == events["day"]).all()
    assert events["event_id"].is_unique().all() and contacts["contact_id"].is_unique().all()
    assert set(loans["currency"]) == {"CNY"}
    assert len(book.files) == 3 * DAYS


def test_identities_are_well_formed(loans):
    people = loans.unique("borrower_id")
    for row in people.iter_rows(named=True):
        national_id = row["national_id"]
        total = sum(int(c) * w for c, w in zip(national_id[:17], ID_WEIGHTS, strict=True))
        assert national_id[17] == "10X98765432"[total % 11], national_id
        born = dt.date(int(national_id[6:10]), int(national_id[10:12]), int(national_id[12:14]))
        assert 18 <= (START - born).days / 365.25 <= 70, national_id
        assert national_id[:6] == row["region_code"]
        assert 11 <= int(row["region_code"][:2]) <= 65
        assert PHONE.match(row["mobile_phone"]), row["mobile_phone"]
        assert 2 <= len(row["borrower_name"]) <= 4
        assert all("\u4e00" <= ch <= "\u9fff" for ch in row["borrower_name"])
    assert set(people["borrower_timezone"]) <= {"Asia/Shanghai", "Asia/Urumqi"}
    pii = ("borrower_name", "mobile_phone", "national_id", "region_code", "borrower_timezone")
    stable = loans.group_by("borrower_id").agg(pl.col(c).n_unique() for c in pii)
    assert all((stable[c] == 1).all() for c in pii)
    assert re.fullmatch(r"L[0-9]{9}", loans["loan_id"][0])
    assert re.fullmatch(r"B[0-9]{8}", loans["borrower_id"][0])


# --- DESIGN.md §4 rules on every row -------------------------------------------------------


def rules() -> dict[str, pl.Expr]:
    c = pl.col
    line = c("product_code") == "CREDIT_LINE"
    overdue = c("overdue_amount") > 0
    dpd = (c("snapshot_date") - c("oldest_unpaid_due_date")).dt.total_days()
    return {
        "origination <= snapshot": c("origination_date") <= c("snapshot_date"),
        "maturity >= origination": c("maturity_date") >= c("origination_date"),
        "principal > 0": c("principal_amount") > 0,
        "credit_limit set for CREDIT_LINE": ~line | c("credit_limit").is_not_null(),
        "credit_limit >= 0": c("credit_limit").fill_null(0) >= 0,
        "drawn <= limit": ~line | (c("outstanding_principal") <= c("credit_limit")),
        "outstanding >= 0": c("outstanding_principal") >= 0,
        "overdue_principal in [0, outstanding]": (c("overdue_principal") >= 0)
        & (c("overdue_principal") <= c("outstanding_principal")),
        "overdue_interest >= 0": c("overdue_interest") >= 0,
        "overdue_fees >= 0": c("overdue_fees") >= 0,
        "rate in [0, 0.36]": c("annual_interest_rate").is_between(0, Decimal("0.36")),
        "installments only without a line": line == c("installments_total").is_null(),
        "0 <= paid <= total": line
        | (
            (c("installments_total") >= 1)
            & c("installments_paid").is_between(0, c("installments_total"))
        ),
        "next_due after snapshot": c("next_due_date").is_null()
        | (c("next_due_date") > c("snapshot_date")),
        "next_due_amount >= 0": c("next_due_amount").fill_null(0) >= 0,
        "next_due_amount with next_due_date": c("next_due_date").is_null()
        == c("next_due_amount").is_null(),
        "oldest_unpaid <= snapshot": c("oldest_unpaid_due_date").fill_null(c("snapshot_date"))
        <= c("snapshot_date"),
        "oldest_unpaid null iff nothing overdue": c("oldest_unpaid_due_date").is_not_null()
        == overdue,
        "days_past_due = snapshot - oldest_unpaid": c("days_past_due")
        == pl.when(overdue).then(dpd).otherwise(0),
        "last_payment <= snapshot": c("last_payment_date").fill_null(c("snapshot_date"))
        <= c("snapshot_date"),
        "last_payment date and amount together": c("last_payment_date").is_null()
        == c("last_payment_amount").is_null(),
        "last_payment_amount > 0": c("last_payment_amount").fill_null(1) > 0,
        "forbearance_start iff forbearance": (c("forbearance_type") != "NONE")
        == c("forbearance_start_date").is_not_null(),
        "forbearance_start <= snapshot": c("forbearance_start_date").fill_null(c("snapshot_date"))
        <= c("snapshot_date"),
        "closed loans are repaid": (c("account_status") != "CLOSED")
        | ((c("outstanding_principal") == 0) & ~overdue & c("next_due_date").is_null()),
        "written off past 180 dpd": (c("account_status") != "WRITTEN_OFF")
        | (c("days_past_due") > 180),
    }


def test_every_row_keeps_the_contract_rules(loans):
    assert loans.height > LOANS * DAYS * 0.9
    broken = loans.select(
        [(~expr.fill_null(False)).sum().alias(name) for name, expr in rules().items()]
    ).row(0, named=True)
    assert {name: n for name, n in broken.items() if n} == {}


def test_the_rule_check_catches_a_broken_row(loans):
    row = loans.head(1).with_columns(
        (pl.col("outstanding_principal") + 1).alias("overdue_principal"),
        pl.lit("INSTALLMENT_PLAN").alias("forbearance_type"),
        pl.lit(None, dtype=pl.Date).alias("forbearance_start_date"),
    )
    broken = row.select(
        [(~expr.fill_null(False)).sum().alias(name) for name, expr in rules().items()]
    ).row(0, named=True)
    assert broken["overdue_principal in [0, outstanding]"] == 1
    assert broken["forbearance_start iff forbearance"] == 1


def test_a_loan_keeps_its_identity_and_leaves_after_closing(loans):
    per_loan = loans.group_by("loan_id").agg(
        *(
            pl.col(c).n_unique().alias(c)
            for c in ("borrower_id", "product_code", "origination_date", "national_id")
        ),
        pl.len().alias("rows"),
        pl.col("snapshot_date").min().alias("first"),
        pl.col("snapshot_date").max().alias("last"),
        pl.col("account_status").last().alias("final"),
        (pl.col("account_status") != "ACTIVE").sum().alias("ended"),
    )
    for column in ("borrower_id", "product_code", "origination_date", "national_id"):
        assert (per_loan[column] == 1).all(), column
    gaps = per_loan.filter(pl.col("rows") != (pl.col("last") - pl.col("first")).dt.total_days() + 1)
    assert gaps.height == 0
    assert (per_loan["ended"] <= 1).all()
    assert per_loan.filter((pl.col("ended") == 1) & (pl.col("final") == "ACTIVE")).height == 0


# --- realism -----------------------------------------------------------------------------


def test_the_book_lives(loans):
    ordered = loans.sort("loan_id", "snapshot_date").with_columns(
        pl.col("days_past_due").shift(1).over("loan_id").alias("before")
    )
    rolled = ordered.filter((pl.col("before") == 0) & (pl.col("days_past_due") >= 1))
    cured = ordered.filter((pl.col("before") >= 1) & (pl.col("days_past_due") == 0))
    assert rolled["loan_id"].n_unique() >= 5
    assert cured["loan_id"].n_unique() >= 5
    status = loans["account_status"].value_counts()
    counts = dict(zip(status["account_status"], status["count"], strict=True))
    assert counts.get("WRITTEN_OFF", 0) >= 1 and counts.get("CLOSED", 0) >= 1
    first_ids = set(loans.filter(pl.col("snapshot_date") == START)["loan_id"])
    new = loans.filter(pl.col("snapshot_date") > START).filter(~pl.col("loan_id").is_in(first_ids))
    assert new["loan_id"].n_unique() >= 10
    assert (new["origination_date"] > START).all()
    for product in ("CASH_LOAN", "INSTALLMENT", "CREDIT_LINE"):
        assert (loans["product_code"] == product).sum() > 0, product
    held = loans.filter(pl.col("snapshot_date") == START).group_by("borrower_id").len()["len"]
    assert held.max() in (2, 3) and held.min() == 1


def test_buckets_move_and_deep_delinquency_exists(loans):
    dpd = pl.col("days_past_due")
    band = (
        pl.when(dpd == 0).then(pl.lit("0"))
        .when(dpd <= 30).then(pl.lit("1-30"))
        .when(dpd <= 60).then(pl.lit("31-60"))
        .when(dpd <= 90).then(pl.lit("61-90"))
        .when(dpd <= 180).then(pl.lit("91-180"))
        .otherwise(pl.lit(">180"))
    )  # fmt: skip
    active = loans.filter(pl.col("account_status") == "ACTIVE").with_columns(band.alias("band"))
    first = active.filter(pl.col("snapshot_date") == START)["band"].value_counts()
    last = active.filter(pl.col("snapshot_date") == run_days()[-1])["band"].value_counts()
    assert first.sort("band").rows() != last.sort("band").rows()
    seen = set(active["band"])
    assert {"0", "1-30", "31-60", "61-90", "91-180"} <= seen
    assert (active["forbearance_type"] != "NONE").any()
    assert active["litigation_flag"].any()
    deep = active.filter(pl.col("litigation_flag"))
    assert (deep["days_past_due"] > 0).mean() > 0.5


def test_default_follows_borrower_risk(loans):
    last = loans.filter(pl.col("snapshot_date") == run_days()[-1])
    late = (pl.col("days_past_due") > 0).mean()
    cheap = last.filter(pl.col("annual_interest_rate") < Decimal("0.15")).select(late).item()
    dear = last.filter(pl.col("annual_interest_rate") >= Decimal("0.22")).select(late).item()
    assert dear > 2 * cheap


# --- the event and contact feeds -------------------------------------------------------------


def test_repayment_events_match_the_payments(loans, events):
    paid = (
        loans.filter(pl.col("last_payment_date") == pl.col("snapshot_date"))
        .group_by("snapshot_date", "borrower_id")
        .agg(pl.col("last_payment_amount").sum().alias("paid"))
    )
    repaid = (
        events.filter(pl.col("event_type") == "REPAYMENT")
        .group_by("day", "borrower_id")
        .agg(pl.col("amount").sum().alias("repaid"))
        .rename({"day": "snapshot_date"})
    )
    both = paid.join(repaid, on=["snapshot_date", "borrower_id"], how="full", coalesce=True)
    assert both.height > 100
    assert (both["paid"] == both["repaid"]).all()


def test_events_are_plausible(loans, events):
    login = pl.col("event_type").str.starts_with("LOGIN")
    assert events.filter(login)["amount"].null_count() == events.filter(login).height
    assert events.filter(~login)["amount"].null_count() == 0
    assert (
        events["event_id"].sort()
        == events.sort("day", "event_time", maintain_order=True)["event_id"]
    ).all()
    on_book = loans.select("snapshot_date", "borrower_id").unique()
    strays = events.join(
        on_book,
        left_on=["day", "borrower_id"],
        right_on=["snapshot_date", "borrower_id"],
        how="anti",
    )
    assert strays.height == 0
    new = loans.filter(pl.col("origination_date") == pl.col("snapshot_date"))
    inflows = events.filter(pl.col("event_type") == "TRANSFER_IN")
    matched = new.join(
        inflows,
        left_on=["snapshot_date", "borrower_id", "principal_amount"],
        right_on=["day", "borrower_id", "amount"],
        how="semi",
    )
    assert matched.height == new.height > 0
    failures = (
        events.filter(pl.col("event_type") == "LOGIN_FAILURE").group_by("day", "borrower_id").len()
    )
    assert failures["len"].max() >= 5  # a burst of failed logins
    assert events["device_id"].drop_nulls().str.contains(r"^D[0-9]{16}$").all()
    assert 0 < events["device_id"].null_count() < events.height * 0.1
    assert {"PURCHASE", "TRANSFER_OUT", "LOGIN_SUCCESS", "REPAYMENT"} <= set(events["event_type"])


def test_contacts_follow_delinquency(loans, contacts):
    assert contacts.height > 100
    about = contacts.filter(pl.col("loan_id").is_not_null()).join(
        loans,
        left_on=["day", "loan_id"],
        right_on=["snapshot_date", "loan_id"],
        how="left",
        suffix="_loan",
    )
    assert about["days_past_due"].null_count() == 0
    assert (about["days_past_due"] >= 1).all()
    assert not (about["dispute_flag"] | about["deceased_flag"] | about["bankruptcy_flag"]).any()
    ch, dpd, letter = pl.col("channel"), pl.col("days_past_due"), pl.col("cease_contact_flag")
    expected = (
        pl.when(letter)
        .then(ch == "LETTER")
        .when(ch == "FIELD_VISIT")
        .then(dpd >= 61)
        .when(ch == "SMS")
        .then(dpd <= 3)
        .when(ch == "VOICE_BOT")
        .then(dpd.is_between(4, 15))
        .when(ch == "AGENT_CALL")
        .then(dpd.is_between(16, 90))
        .when(ch == "AGENCY")
        .then(dpd.is_between(91, 180))
        .when(ch == "LEGAL")
        .then(dpd >= 181)
        .otherwise(False)
    )
    assert about.select(expected.all()).item()
    hour = pl.col("contact_time").dt.convert_time_zone("Asia/Shanghai").dt.hour()
    assert contacts.select(hour.is_between(8, 20).all()).item()
    promise = contacts["outcome"] == "PROMISE_TO_PAY"
    assert promise.any()
    kept = contacts.filter(promise)
    assert kept["promise_date"].null_count() == 0 and (kept["promise_date"] > kept["day"]).all()
    assert (kept["promise_amount"] > 0).all()
    others = contacts.filter(~promise)
    assert (
        others["promise_date"].null_count()
        == others["promise_amount"].null_count()
        == others.height
    )
    assert {"SMS", "VOICE_BOT", "AGENT_CALL"} <= set(contacts["channel"])


# --- configuration -------------------------------------------------------------------------


def broken_config(tmp_path: Path, config_dir: Path, old: str, new: str) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(config_dir, folder)
    text = (folder / "synth.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "synth.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("miss_probability: 0.006", "miss_probability: 1.5", "miss_probability"),
        ("late_days_max: 7", "late_days_max: 7\n  bogus_rate: 0.1", "bogus_rate"),
        ("cure_30d: 0.30", "cure_30d: -0.2", "cure_30d"),
        (
            "daily_origination_share: 0.0036",
            "daily_origination_share: lots",
            "daily_origination_share",
        ),
        ("terms: [3, 6, 12]", "terms: [3, 6]", "term_weights"),
    ],
)
def test_config_errors_name_the_key(tmp_path, config_dir, old, new, key):
    folder = broken_config(tmp_path, config_dir, old, new)
    with pytest.raises(ConfigError) as caught:
        generate(START, 1, 10, 1, tmp_path / "out", folder)
    assert key in str(caught.value)
    assert "synth.yaml" in str(caught.value)
    assert not (tmp_path / "out").exists()
