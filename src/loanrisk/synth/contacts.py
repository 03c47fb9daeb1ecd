"""The collections contact log (``contacts_YYYY-MM-DD.csv``).

Every delinquent loan still on the book is worked through the channel its dpd calls for (SMS
early, then voice bot, agent calls, agency, legal), by field visit when the debt is large,
repeated or litigated, by letter only when the borrower asked for written contact, and not at all
for deceased, bankrupt or disputing borrowers. Outcomes feed back into the book: a kept promise
cures the loan on its promise date, a raised dispute sets the loan's dispute flag from the next day.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from loanrisk.synth.dates import NO_DAY, from_day
from loanrisk.synth.output import (
    LOAN_ID_DIGITS,
    borrower_id,
    day,
    identifier,
    label,
    local_timestamp,
    money,
)
from loanrisk.synth.settings import ContactsConfig, SynthConfig, cents
from loanrisk.synth.state import ACTIVE, Book, Day

CHANNELS = ("SMS", "VOICE_BOT", "AGENT_CALL", "LETTER", "FIELD_VISIT", "AGENCY", "LEGAL")
OUTCOMES = ("NO_ANSWER", "CONTACTED", "PROMISE_TO_PAY", "REFUSED", "WRONG_NUMBER", "DISPUTE_RAISED")
LETTER, FIELD_VISIT = CHANNELS.index("LETTER"), CHANNELS.index("FIELD_VISIT")
PROMISE, DISPUTE = OUTCOMES.index("PROMISE_TO_PAY"), OUTCOMES.index("DISPUTE_RAISED")
FAR_FUTURE = np.iinfo(np.int64).max


def _outcome_cdf(c: ContactsConfig) -> np.ndarray:
    table = np.zeros((len(CHANNELS), len(OUTCOMES)))
    for channel, dist in c.outcomes.items():
        for outcome, p in dist.items():
            table[CHANNELS.index(channel), OUTCOMES.index(outcome)] = p
    return np.cumsum(table, axis=1)


def _channels(cfg: SynthConfig, book: Book, idx: np.ndarray, dpd: np.ndarray):
    """Channel and daily attempt rate for each delinquent loan."""
    c, loans, borrowers = cfg.contacts, book.loans, book.borrowers
    who = loans.borrower[idx]
    tier = np.searchsorted(np.array([t.min_dpd for t in c.tiers]), dpd, side="right") - 1
    channel = np.array([CHANNELS.index(t.channel) for t in c.tiers])[tier]
    rate = np.array([t.attempts_per_day for t in c.tiers])[tier]
    fv = c.field_visit
    serious = (loans.overdue[idx] >= cents(fv.min_overdue)) | loans.litigation[idx]
    serious |= borrowers.episodes[who] >= fv.min_episodes
    visit = (dpd >= fv.min_dpd) & serious
    channel = np.where(visit, FIELD_VISIT, channel)
    rate = np.where(visit, fv.attempts_per_day, rate)
    letter = borrowers.cease_contact[who]
    channel = np.where(letter, LETTER, channel)
    rate = np.where(letter, c.letter_attempts_per_day, rate)
    return channel, rate


def _attempts(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day):
    loans, borrowers = book.loans, book.borrowers
    dpd = loans.dpd(today.day)
    workable = (today.status == ACTIVE) & (dpd >= 1) & ~loans.dispute
    workable &= loans.promised_until < today.day  # no calls while a promise is pending
    workable &= ~borrowers.flagged[loans.borrower]
    idx = np.flatnonzero(workable)
    channel, rate = _channels(cfg, book, idx, dpd[idx])
    count = rng.poisson(rate)
    return np.repeat(idx, count), np.repeat(channel, count)


def _feed_back(rng, c: ContactsConfig, book: Book, loan, outcome, promise_day) -> None:
    loans = book.loans
    kept = (outcome == PROMISE) & (rng.random(len(loan)) < c.promise_kept_probability)
    planned = np.where(loans.cure_day == NO_DAY, FAR_FUTURE, loans.cure_day)
    np.minimum.at(planned, loan[kept], promise_day[kept])
    loans.cure_day = np.where(planned == FAR_FUTURE, NO_DAY, planned)
    promised = outcome == PROMISE
    np.maximum.at(loans.promised_until, loan[promised], promise_day[promised])
    loans.dispute[loan[outcome == DISPUTE]] = True


def _contact_rows(rng, cfg: SynthConfig, book: Book, today: Day) -> dict[str, np.ndarray]:
    """Today's attempts and outcomes (which also feed back into the book), in time order."""
    c, loans = cfg.contacts, book.loans
    loan, channel = _attempts(rng, cfg, book, today)
    n = len(loan)
    second = rng.integers(c.hours[0] * 3600, c.hours[1] * 3600, n)
    cdf = _outcome_cdf(c)[channel]
    outcome = np.minimum((rng.random(n)[:, None] >= cdf).sum(axis=1), len(OUTCOMES) - 1)
    promise_day = today.day + rng.integers(1, c.promise_days_max + 1, n)
    about_loan = rng.random(n) >= c.borrower_level_share
    is_promise = outcome == PROMISE
    rows = {
        "borrower": loans.borrower[loan],
        "loan_no": np.where(about_loan, loans.loan_no[loan], -1),
        "second": second,
        "channel": channel,
        "outcome": outcome,
        "promise_day": np.where(is_promise, promise_day, NO_DAY),
        "promise_amt": np.where(is_promise, loans.overdue[loan], -1),
    }
    _feed_back(rng, c, book, loan, outcome, promise_day)
    order = np.lexsort((np.arange(n), rows["loan_no"], rows["borrower"], second))
    return {k: v[order] for k, v in rows.items()}


def contacts_frame(
    rng: np.random.Generator,
    cfg: SynthConfig,
    book: Book,
    today: Day,
    columns: list[str],
    first_seq: int = 0,
) -> pl.DataFrame:
    """The block's contact attempts of the day in contract column order, contact_id ascending
    with time within the block and numbered from ``first_seq`` (the rows of earlier blocks)."""
    frame = pl.DataFrame(_contact_rows(rng, cfg, book, today))
    stamp = from_day(today.day).strftime("%Y%m%d")
    seq = pl.int_range(first_seq, first_seq + pl.len(), dtype=pl.Int64).cast(pl.String).str.zfill(7)
    about_loan = identifier("L", "loan_no", LOAN_ID_DIGITS, "loan_id")
    return frame.with_columns(
        pl.format(f"C{stamp}" + "{}", seq).alias("contact_id"),
        borrower_id(book.first_borrower),
        pl.when(pl.col("loan_no") >= 0).then(about_loan).alias("loan_id"),
        local_timestamp(today.day, "second", "contact_time"),
        label(CHANNELS, "channel"),
        label(OUTCOMES, "outcome"),
        day("promise_day").alias("promise_date"),
        money("promise_amt").alias("promise_amount"),
    ).select(columns)
