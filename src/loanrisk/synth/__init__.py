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
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
from loanrisk.synth.output import snapshot_frame, write_control_file, write_csv
from loanrisk.synth.repayment import accrue_penalty, delinquent_payments, early_payoffs, process_due
from loanrisk.synth.settings import SynthConfig, load_synth_config
from loanrisk.synth.state import ACTIVE, CLOSED, WRITTEN_OFF, Book, Day

__all__ = ["DayCounts", "SynthSummary", "generate", "simulate_day"]

FEEDS = (("loans", "loan_snapshot"), ("events", "events"), ("contacts", "contacts"))


@dataclass(frozen=True)
class DayCounts:
    """Rows written for one business day, and how the book moved."""

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
) -> SynthSummary:
    """Write ``days`` consecutive days of landing files for a book of about ``loans`` loans;
    with ``control_files``, each file's ``.done`` after it (left out by default: a test that
    edits a landing file would otherwise stop on FILE_INCOMPLETE)."""
    if days < 1 or loans < 1:
        raise UsageError(f"synth needs days >= 1 and loans >= 1 (got days={days}, loans={loans})")
    settings = load_settings(config_dir)
    cfg = load_synth_config(settings.config_dir)
    contracts = {feed: load_contract(settings.contracts_dir, name) for feed, name in FEEDS}
    out_dir = Path(out_dir)
    rng = np.random.Generator(np.random.PCG64(seed))
    book = initial_book(rng, cfg, loans, to_day(start))
    per_day, files = [], []
    for offset in range(days):
        day = to_day(start) + offset
        counts, written = _one_day(rng, cfg, book, day, contracts, out_dir, control_files)
        per_day.append(counts)
        files.extend(written)
    return SynthSummary(start, days, seed, out_dir, tuple(per_day), tuple(files))


def _one_day(
    rng,
    cfg: SynthConfig,
    book: Book,
    day: int,
    contracts: dict[str, Contract],
    out_dir: Path,
    control_files: bool,
):
    today = simulate_day(rng, cfg, book, day)
    frames = {
        "loans": snapshot_frame(cfg, book, today, contracts["loans"].column_names),
        "events": events_frame(rng, cfg, book, today, contracts["events"].column_names),
        "contacts": contacts_frame(rng, cfg, book, today, contracts["contacts"].column_names),
    }
    stamp = from_day(day).isoformat()
    written = []
    for feed, frame in frames.items():
        path = out_dir / contracts[feed].landing_file_name(stamp)
        write_csv(frame, path)
        written.append(path)
        if control_files:
            written.append(write_control_file(path, frame.height))
    counts = DayCounts(
        date=from_day(day),
        loans=frames["loans"].height,
        events=frames["events"].height,
        contacts=frames["contacts"].height,
        originated=today.originated,
        closed=int((today.status == CLOSED).sum()),
        written_off=int((today.status == WRITTEN_OFF).sum()),
        delinquent=int(book.loans.delinquent[today.status == ACTIVE].sum()),
    )
    retire(book, today)
    return counts, written
