"""Loans coming and going, and their legal and customer flags: originations, credit-line draws,
forbearance, litigation / dispute / bankruptcy / deceased / cease-contact, write-off, closure."""

from __future__ import annotations

import numpy as np

from loanrisk.synth.origination import (
    AMOUNT_STEP,
    new_borrowers,
    new_loans,
    pick_repeat_customers,
)
from loanrisk.synth.settings import SynthConfig
from loanrisk.synth.state import (
    ACTIVE,
    CLOSED,
    DEFERRAL,
    INSTALLMENT_PLAN,
    NO_DAY,
    NONE,
    WRITTEN_OFF,
    Book,
    Day,
    borrower_mask,
)

UTILISATION_PIVOT = 0.5  # a grade with this utilisation draws at the configured daily rate


def originate(rng: np.random.Generator, cfg: SynthConfig, book: Book, day: int) -> np.ndarray:
    """Today's new loans, to repeat customers in good standing and to new borrowers."""
    wanted = int(rng.poisson(cfg.book.daily_origination_share * len(book.loans)))
    n_repeat = int(rng.binomial(wanted, cfg.book.repeat_customer_share))
    max_loans = len(cfg.book.loans_per_borrower)
    repeat = pick_repeat_customers(rng, book, n_repeat, max_loans)
    borrowers, identities = new_borrowers(rng, cfg, wanted - len(repeat), day)
    fresh = book.add_borrowers(borrowers, identities)
    who = np.concatenate([repeat, fresh])
    orig = np.full(len(who), day, dtype=np.int64)
    loans = new_loans(rng, cfg, who, book.borrowers.grade[who], orig, book.next_loan_no)
    book.next_loan_no += len(loans)
    first = len(book.loans)
    book.loans = book.loans.concat(loans)
    return np.arange(first, first + len(loans), dtype=np.int64)


def draw_credit_lines(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    """Current credit lines draw part of their available limit."""
    loans, borrowers, spec = book.loans, book.borrowers, cfg.products.CREDIT_LINE
    who = loans.borrower
    available = loans.limit - loans.outstanding
    blocked = borrowers.flagged | borrowers.cease_contact
    usable = loans.is_credit_line & ~loans.delinquent & ~loans.dispute & ~loans.litigation
    usable &= ~blocked[who] & (today.day < loans.maturity) & (loans.orig < today.day)
    usable &= available >= AMOUNT_STEP
    usage = np.array([g.utilisation for g in cfg.risk_grades])[borrowers.grade[who]]
    chance = np.clip(spec.draw_daily_probability * usage / UTILISATION_PIVOT, 0, 1)
    idx = np.flatnonzero(usable & (rng.random(len(loans)) < chance))
    share = rng.uniform(spec.draw_share_min, spec.draw_share_max, len(idx))
    steps = np.floor(available[idx] * share / AMOUNT_STEP).astype(np.int64)
    amount = np.maximum(steps, 1) * AMOUNT_STEP
    loans.sched[idx] += amount
    loans.principal[idx] += amount
    today.disburse(idx, who[idx], amount)


def update_flags(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    loans, f, n = book.loans, cfg.flags, len(book.loans)
    dpd = loans.dpd(today.day)
    late = dpd > 0
    shallow = np.where(late, f.litigation_daily_probability_shallow, 0.0)
    litigation = np.where(dpd >= f.litigation_min_dpd, f.litigation_daily_probability, shallow)
    loans.litigation = (
        loans.litigation | (rng.random(n) < litigation)
    ) & late  # settled: withdrawn
    raised = rng.random(n) < np.where(
        late, f.dispute_daily_probability_delinquent, f.dispute_daily_probability
    )
    resolved = rng.random(n) < f.dispute_resolution_daily_probability
    loans.dispute = np.where(loans.dispute, ~resolved, raised)
    b, nb = book.borrowers, len(book.borrowers)
    on_book = borrower_mask(book, np.ones(n, dtype=bool))
    late_b = borrower_mask(book, late)
    b.deceased |= on_book & (rng.random(nb) < f.deceased_daily_probability)
    bankruptcy = np.where(
        late_b,
        f.bankruptcy_daily_probability * f.bankruptcy_delinquent_multiplier,
        f.bankruptcy_daily_probability,
    )
    b.bankrupt |= on_book & (rng.random(nb) < bankruptcy)
    b.cease_contact |= late_b & (rng.random(nb) < f.cease_contact_daily_probability_delinquent)


def update_forbearance(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    """Plans and deferrals granted to loans in difficulty; they lapse after probation once cured."""
    loans, fb, n = book.loans, cfg.forbearance, len(book.loans)
    dpd = loans.dpd(today.day)
    window = (dpd >= fb.min_dpd) & (dpd <= fb.max_dpd) & (loans.forb == NONE)
    granted = window & (rng.random(n) < fb.daily_probability)
    kind = np.where(rng.random(n) < fb.deferral_share, DEFERRAL, INSTALLMENT_PLAN)
    loans.forb = np.where(granted, kind, loans.forb).astype(np.int8)
    loans.forb_start = np.where(granted, today.day, loans.forb_start)
    lapsed = (loans.forb != NONE) & ~loans.delinquent
    lapsed &= today.day - loans.forb_start >= fb.probation_days
    loans.forb[lapsed] = NONE
    loans.forb_start[lapsed] = NO_DAY


def settle_statuses(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    """Write-offs past the dpd threshold; closures when everything is repaid at maturity."""
    loans, n = book.loans, len(book.loans)
    active = today.status == ACTIVE
    eligible = active & (loans.dpd(today.day) > cfg.book.write_off_after_dpd)
    chance = np.where(
        loans.litigation,
        cfg.book.write_off_daily_probability_litigation,
        cfg.book.write_off_daily_probability,
    )
    today.status[eligible & (rng.random(n) < chance)] = WRITTEN_OFF
    repaid = ~loans.delinquent & (loans.sched == 0)
    ended = np.where(loans.is_credit_line, today.day >= loans.maturity, loans.paid >= loans.total)
    today.status[(today.status == ACTIVE) & repaid & ended] = CLOSED


def retire(book: Book, today: Day) -> None:
    """Closed and written-off loans leave the book after the day they were reported."""
    book.loans = book.loans.take(np.flatnonzero(today.status == ACTIVE))
