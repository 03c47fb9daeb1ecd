"""``loanrisk synth`` streams the book in blocks of borrowers: the blocks make one book (keys,
identities, devices and control files hold across them), keep the configured rates, leave
nothing behind when a run fails, and bound the memory by a block, not the book."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from test_synth import rules, sha256, typed

import loanrisk.synth as synth
from loanrisk.config import load_settings
from loanrisk.quality.contracts import load_contract
from loanrisk.synth import block_sizes, generate

START = dt.date(2026, 3, 1)
DAYS = 12
BLOCK = 150
LOANS = 3 * BLOCK + 1  # four blocks of 112-113 loans
SEED = 11
FEEDS = {"loans": "loan_snapshot", "events": "events", "contacts": "contacts"}


def days() -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(DAYS)]


@pytest.fixture(scope="module")
def blocked(tmp_path_factory, config_dir):
    out = tmp_path_factory.mktemp("synth-blocks")
    summary = generate(START, DAYS, LOANS, SEED, out, config_dir, True, block_loans=BLOCK)
    folder = load_settings(config_dir).contracts_dir
    contracts = {feed: load_contract(folder, name) for feed, name in FEEDS.items()}
    frames = {
        feed: pl.concat(
            typed(out / f"{feed}_{d.isoformat()}.csv", contracts[feed]).with_columns(
                pl.lit(d).alias("day")
            )
            for d in days()
        )
        for feed in FEEDS
    }
    return summary, frames


def test_block_sizes_are_as_even_as_possible():
    assert block_sizes(10, 4) == [4, 3, 3]
    assert block_sizes(8, 4) == [4, 4]
    assert block_sizes(3, 4) == [3]
    assert block_sizes(LOANS, BLOCK) == [113, 113, 113, 112]


def test_blocks_make_one_sorted_book(blocked):
    summary, frames = blocked
    loans = frames["loans"]
    for day in days():
        ids = loans.filter(pl.col("day") == day)["loan_id"]
        assert ids.is_unique().all() and ids.is_sorted(), day  # the file in loan_id order
    first = loans.filter(pl.col("day") == START)
    assert first.height == summary.per_day[0].loans == LOANS + summary.per_day[0].originated
    # borrowers numbered across blocks: one identity per borrower_id, one borrower per identity
    pii = ("borrower_name", "mobile_phone", "national_id")
    people = loans.select("borrower_id", *pii).unique()
    assert people["borrower_id"].is_unique().all()
    assert people.select(pl.struct(pii).is_unique().all()).item()
    per_loan = loans.group_by("loan_id").agg(pl.col("borrower_id").n_unique())
    assert (per_loan["borrower_id"] == 1).all()
    overdue = pl.col("overdue_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    broken = (
        loans.with_columns(overdue.alias("overdue_amount"))
        .select([(~expr.fill_null(False)).sum().alias(name) for name, expr in rules().items()])
        .row(0, named=True)
    )
    assert {name: n for name, n in broken.items() if n} == {}


def test_events_and_contacts_follow_the_blocks(blocked):
    _, frames = blocked
    loans, events, contacts = frames["loans"], frames["events"], frames["contacts"]
    for feed, key in (("events", "event_id"), ("contacts", "contact_id")):
        for day in days():
            ids = frames[feed].filter(pl.col("day") == day)[key]
            assert ids.is_unique().all() and ids.is_sorted(), (feed, day)
    on_book = loans.select("day", "borrower_id").unique()
    assert events.join(on_book, on=["day", "borrower_id"], how="anti").height == 0
    assert contacts.join(on_book, on=["day", "borrower_id"], how="anti").height == 0
    about = contacts.filter(pl.col("loan_id").is_not_null())
    mine = loans.select("day", "loan_id", "borrower_id")
    assert about.join(mine, on=["day", "loan_id", "borrower_id"], how="anti").height == 0
    # a device belongs to one borrower: hashed from the book's borrower number, not the block's
    devices = (
        events.drop_nulls("device_id").group_by("device_id").agg(pl.col("borrower_id").n_unique())
    )
    assert (devices["borrower_id"] == 1).all()
    paid = (
        loans.filter(pl.col("last_payment_date") == pl.col("snapshot_date"))
        .group_by("day", "borrower_id")
        .agg(pl.col("last_payment_amount").sum().alias("paid"))
    )
    repaid = (
        events.filter(pl.col("event_type") == "REPAYMENT")
        .group_by("day", "borrower_id")
        .agg(pl.col("amount").sum().alias("repaid"))
    )
    both = paid.join(repaid, on=["day", "borrower_id"], how="full", coalesce=True)
    assert both.height > 50 and (both["paid"] == both["repaid"]).all()


def test_control_files_describe_the_streamed_files(blocked):
    summary, _ = blocked
    done = [p for p in summary.files if p.suffix == ".done"]
    assert len(done) == 3 * DAYS == len(summary.files) // 2
    for path in done:
        document = json.loads(path.read_text(encoding="utf-8"))
        data = path.with_suffix(".csv")
        assert document["file"] == data.name
        assert document["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
        rows = pl.read_csv(data, infer_schema=False).height
        assert document["rows"] == rows
    feeds = {"loans": "loans", "events": "events", "contacts": "contacts"}
    for counts in summary.per_day:
        for feed in feeds:
            path = summary.out_dir / f"{feed}_{counts.date.isoformat()}.done"
            assert json.loads(path.read_text())["rows"] == getattr(counts, feed)


def test_blocked_book_is_deterministic_and_block_size_is_part_of_it(tmp_path, config_dir):
    runs = {
        name: generate(START, 2, 300, 5, tmp_path / name, config_dir, block_loans=block)
        for name, block in (("a", 100), ("b", 100), ("whole", 300), ("default", 10**6))
    }
    names = sorted(p.name for p in runs["a"].files)
    for name in names:
        assert sha256(tmp_path / "a" / name) == sha256(tmp_path / "b" / name), name
        # a book of one block is the unblocked book
        assert sha256(tmp_path / "whole" / name) == sha256(tmp_path / "default" / name), name
    loans = names[names.index(f"loans_{START.isoformat()}.csv")]
    assert sha256(tmp_path / "a" / loans) != sha256(tmp_path / "whole" / loans)


def test_blocks_keep_the_configured_rates(tmp_path, config_dir):
    """The same book as one block and as ten: per-loan rates within sampling noise."""
    whole = generate(START, 3, 20_000, 3, tmp_path / "whole", config_dir)
    split = generate(START, 3, 20_000, 3, tmp_path / "split", config_dir, block_loans=2_000)
    for field, tolerance in (
        ("loans", 0.01),
        ("events", 0.05),
        ("contacts", 0.2),
        ("delinquent", 0.15),
        ("originated", 0.35),
    ):
        a = sum(getattr(d, field) for d in whole.per_day)
        b = sum(getattr(d, field) for d in split.per_day)
        assert a > 0 and abs(b - a) / a < tolerance, (field, a, b)


def test_a_failed_run_leaves_nothing(tmp_path, config_dir, monkeypatch):
    calls = []
    real = synth.contacts_frame

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # block 1's first day: block 0 has written both days
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "contacts_frame", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(START, 2, 200, 5, tmp_path, config_dir, True, block_loans=100)
    assert len(calls) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- memory: bounded by a block ------------------------------------------------------------

PEAK = """
import datetime as dt, re, sys
from pathlib import Path
from loanrisk.synth import generate
loans, block, out, config = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
generate(dt.date(2026, 8, 1), 2, loans, 7, out, Path(config), True, block_loans=block)
print(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
"""


def peak_kib(tmp_path: Path, config_dir: Path, loans: int, block: int) -> int:
    out = tmp_path / f"{loans}-{block}"
    args = [sys.executable, "-c", PEAK, str(loans), str(block), str(out), str(config_dir)]
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    return int(done.stdout.split()[-1])


def test_peak_memory_does_not_grow_with_the_book(tmp_path, config_dir):
    """Two blocks and ten blocks of 20k loans peak alike; unblocked, the 160k more loans would
    take ~300 MiB more (1.8 KiB a loan). A block's own footprint: two blocks against a tiny book.
    The peak is the child's VmHWM: its ru_maxrss keeps the forking parent's (pytest's) peak."""
    block = 20_000
    tiny = peak_kib(tmp_path, config_dir, 100, block)
    two = peak_kib(tmp_path, config_dir, 2 * block, block)
    ten = peak_kib(tmp_path, config_dir, 10 * block, block)
    footprint = two - tiny
    assert footprint > 10 * 1024, (tiny, two)  # the measure sees a block at all
    assert ten - two < footprint / 2, (tiny, two, ten)  # allocator caches: ~15 MiB
