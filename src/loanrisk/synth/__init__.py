"""``loanrisk synth``: realistic synthetic landing files from a day-by-day simulated loan book.

A book of ``loans`` seasoned loans (as at the day before ``start``) lives through ``days``
business days: installments fall due and are paid, paid late, partly paid or missed according to
each borrower's latent risk grade, utilisation and past delinquency; delinquent loans roll through
the buckets, cure, get forbearance and flags, and are written off past 180 dpd; loans mature or
are repaid early; new loans are originated every day. Each day writes ``loans_D.csv``,
``events_D.csv`` and ``contacts_D.csv`` (columns in the order of the data contracts), each
followed, with ``control_files`` (as ``loanrisk synth`` does), by its control file ``<name>.done``
as the lending core writes it. The result is a pure function of the arguments and
``config/synth.yaml``: same inputs, same bytes.

The book streams in blocks of borrowers (``BLOCK_LOANS`` loans at most; a borrower and every
loan of theirs stay in one block), so memory is bounded by a block, not the book: each block
lives through every day on its own random stream and appends its rows to each day's files
(``sink``). Block 0 draws from the seed's stream itself, so a book of one block (up to
``BLOCK_LOANS`` loans) is the one the unblocked generator wrote; block ``b`` from that stream
jumped ``b`` times (PCG64 jumps: non-overlapping streams). A block's loan and borrower numbers
follow the previous block's (its originations included), so every loans file stays sorted by
loan_id; events and contacts are numbered in file order, in time order within a block. The
rates of ``config/synth.yaml`` are per loan or per borrower, so blocks leave them unchanged;
originations are drawn per block in proportion to its loans (a sum of Poisson draws is the
book's Poisson draw) and repeat customers come from the same block.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import polars as pl

from loanrisk.config import load_settings
from loanrisk.errors import UsageError
from loanrisk.quality.contracts import Contract, load_contract
from loanrisk.synth.contacts import contacts_frame
from loanrisk.synth.dates import from_day, to_day
from loanrisk.synth.events import events_frame
from loanrisk.synth.initial import initial_book
from loanrisk.synth.lifecycle import (
    draw_credit_lines,
    originate,
    retire,
    settle_statuses,
    update_flags,
    update_forbearance,
)
from loanrisk.synth.output import snapshot_frames
from loanrisk.synth.repayment import accrue_penalty, delinquent_payments, early_payoffs, process_due
from loanrisk.synth.settings import SynthConfig, load_synth_config
from loanrisk.synth.sink import LandingSink
from loanrisk.synth.state import ACTIVE, CLOSED, WRITTEN_OFF, Book, Day

__all__ = ["DayCounts", "SynthSummary", "generate", "simulate_day"]

FEEDS = (("loans", "loan_snapshot"), ("events", "events"), ("contacts", "contacts"))
# Loans per block at most: part of the determinism (a book of more loans is split into
# ceil(loans / BLOCK_LOANS) blocks of near-equal size), so fixed here, never sized by memory.
BLOCK_LOANS = 1_000_000


@dataclass(frozen=True)
class DayCounts:
    """Rows written for one business day, and how the book moved (summed over the blocks)."""

    date: dt.date
    loans: int
    events: int
    contacts: int
    originated: int
    closed: int
    written_off: int
    delinquent: int


@dataclass(frozen=True)
class SynthSummary:
    start: dt.date
    days: int
    seed: int
    out_dir: Path
    per_day: tuple[DayCounts, ...]
    files: tuple[Path, ...]

    @property
    def rows(self) -> dict[str, int]:
        """Total rows per feed over all days."""
        return {
            "loans": sum(d.loans for d in self.per_day),
            "events": sum(d.events for d in self.per_day),
            "contacts": sum(d.contacts for d in self.per_day),
        }


def simulate_day(rng: np.random.Generator, cfg: SynthConfig, book: Book, day: int) -> Day:
    """Move the book through one business day; the returned Day holds what happened."""
    new = originate(rng, cfg, book, day)
    today = Day.start(day, book.loans)
    today.disburse(new, book.loans.borrower[new], book.loans.principal[new])
    draw_credit_lines(rng, cfg, book, today)
    process_due(rng, cfg, book, today)
    delinquent_payments(rng, cfg, book, today)
    early_payoffs(rng, cfg, book, today)
    accrue_penalty(cfg, book, today)
    update_flags(rng, cfg, book, today)
    update_forbearance(rng, cfg, book, today)
    settle_statuses(rng, cfg, book, today)
    today.originated = len(new)
    return today


def generate(
    start: dt.date,
    days: int,
    loans: int,
    seed: int,
    out_dir: Path,
    config_dir: Path | None = None,
    control_files: bool = False,
    block_loans: int = BLOCK_LOANS,
) -> SynthSummary:
    """Write ``days`` consecutive days of landing files for a book of about ``loans`` loans;
    with ``control_files``, each file's ``.done`` after it (left out by default: a test that
    edits a landing file would otherwise stop on FILE_INCOMPLETE). ``block_loans`` is for tests
    of the streaming: another value gives another book."""
    if days < 1 or loans < 1 or block_loans < 1:
        raise UsageError(
            f"synth needs days >= 1, loans >= 1 and block_loans >= 1 "
            f"(got days={days}, loans={loans}, block_loans={block_loans})"
        )
    settings = load_settings(config_dir)
    cfg = load_synth_config(settings.config_dir)
    contracts = {feed: load_contract(settings.contracts_dir, name) for feed, name in FEEDS}
    out_dir = Path(out_dir)
    sizes = block_sizes(loans, block_loans)
    sink = LandingSink(control_files)
    try:
        per_day = _all_blocks(seed, cfg, start, days, sizes, _Writer(contracts, out_dir, sink))
        files = sink.finish()
    except BaseException:
        sink.abort()
        raise
    return SynthSummary(start, days, seed, out_dir, per_day, tuple(files))


def block_sizes(loans: int, block_loans: int) -> list[int]:
    """Loans of each block: as few blocks as ``block_loans`` allows, sizes within one loan."""
    blocks = -(-loans // block_loans)
    base, extra = divmod(loans, blocks)
    return [base + 1] * extra + [base] * (blocks - extra)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """Block 0: the seed's own stream; block b: that stream jumped b times."""
    bits = np.random.PCG64(seed)
    return np.random.Generator(bits if block == 0 else bits.jumped(block))


@dataclass(frozen=True)
class _Writer:
    """Where a block's rows of a day go: the feeds' contracts, the folder, the growing files."""

    contracts: dict[str, Contract]
    out_dir: Path
    sink: LandingSink

    def append(self, feed: str, day: int, frame: pl.DataFrame) -> None:
        name = self.contracts[feed].landing_file_name(from_day(day).isoformat())
        self.sink.append(self.out_dir / name, frame)


def _all_blocks(
    seed: int, cfg: SynthConfig, start: dt.date, days: int, sizes: list[int], writer: _Writer
) -> tuple[DayCounts, ...]:
    """Each block through every day in turn, its rows appended to each day's files."""
    first_day = to_day(start)
    totals: list[DayCounts | None] = [None] * days
    written = {(offset, feed): 0 for offset in range(days) for feed, _ in FEEDS}
    next_loan_no, first_borrower = 1, 0
    for block, size in enumerate(sizes):
        rng = block_rng(seed, block)
        book = initial_book(rng, cfg, size, first_day, next_loan_no, first_borrower)
        for offset in range(days):
            firsts = {feed: written[offset, feed] for feed, _ in FEEDS}
            counts = _one_day(rng, cfg, book, first_day + offset, writer, firsts)
            totals[offset] = counts if block == 0 else _added(totals[offset], counts)
            for feed, _ in FEEDS:
                written[offset, feed] += getattr(counts, feed)
        next_loan_no, first_borrower = book.next_loan_no, first_borrower + len(book.borrowers)
        del book  # the block's state goes before the next block's is built
    return tuple(totals)


def _added(a: DayCounts, b: DayCounts) -> DayCounts:
    """Two blocks' counts of the same day, summed."""
    names = [f.name for f in fields(DayCounts) if f.name != "date"]
    return DayCounts(date=a.date, **{name: getattr(a, name) + getattr(b, name) for name in names})


def _one_day(
    rng: np.random.Generator,
    cfg: SynthConfig,
    book: Book,
    day: int,
    writer: _Writer,
    first_seq: dict[str, int],
) -> DayCounts:
    """One block through one business day; its rows appended to the day's files (one feed's
    rows in memory at a time; ``first_seq``: each feed's rows of the day in earlier blocks)."""
    today = simulate_day(rng, cfg, book, day)
    heights = {"loans": 0}
    for loans in snapshot_frames(cfg, book, today, writer.contracts["loans"].column_names):
        writer.append("loans", day, loans)
        heights["loans"] += loans.height
    del loans
    makers = {"events": events_frame, "contacts": contacts_frame}
    for feed, make in makers.items():
        frame = make(rng, cfg, book, today, writer.contracts[feed].column_names, first_seq[feed])
        writer.append(feed, day, frame)
        heights[feed] = frame.height
        del frame
    counts = DayCounts(
        date=from_day(day),
        **heights,
        originated=today.originated,
        closed=int((today.status == CLOSED).sum()),
        written_off=int((today.status == WRITTEN_OFF).sum()),
        delinquent=int(book.loans.delinquent[today.status == ACTIVE].sum()),
    )
    retire(book, today)
    return counts
