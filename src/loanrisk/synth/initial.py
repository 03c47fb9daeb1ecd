"""The book as it stands at the end of the day before ``start``: seasoned loans, delinquency mix.

Loans are originated up to ``seasoning_max_days`` before, their schedules aged in closed form
(annuity balances), and a grade-dependent share is made delinquent with a number of overdue
installments that puts their oldest unpaid due date in the band drawn from the initial mix.
"""

from __future__ import annotations

import numpy as np

from loanrisk.synth.dates import NO_DAY, due_date, due_dates_passed, due_day_of_month
from loanrisk.synth.origination import new_borrowers, new_loans
from loanrisk.synth.settings import SynthConfig, cents
from loanrisk.synth.state import (
    DAYS_PER_MONTH,
    DEFERRAL,
    INSTALLMENT_PLAN,
    NONE,
    Book,
    Loans,
)

UTILISATION_CONCENTRATION = 4.0
FLAG_EXPOSURE_DAYS = 90  # borrower-level flags in the initial book: this many days of hazard
M7_SPAN_DAYS = 60  # initial dpd above the last band edge spreads over this many days


def initial_book(
    rng: np.random.Generator,
    cfg: SynthConfig,
    n_loans: int,
    start_day: int,
    first_loan_no: int = 1,
    first_borrower: int = 0,
) -> Book:
    """A block of ``n_loans`` seasoned loans, numbered from ``first_loan_no``, whose borrowers'
    numbers in the book start at ``first_borrower`` (from 0)."""
    as_of = start_day - 1
    borrower = _assign_borrowers(rng, cfg, n_loans)
    borrowers, identities = new_borrowers(rng, cfg, int(borrower.max(initial=-1)) + 1, as_of)
    grade = borrowers.grade[borrower]
    orig = np.full(n_loans, as_of)
    loans = new_loans(rng, cfg, borrower, grade, orig, first_no=first_loan_no, stock=True)
    book = Book(
        loans=loans,
        borrowers=borrowers,
        identities=identities,
        next_loan_no=first_loan_no + n_loans,
        first_borrower=first_borrower,
    )
    _season(rng, cfg, loans, as_of)
    overdue_count = _initial_overdue_count(rng, cfg, book, loans, as_of)
    _age(rng, cfg, book, loans, overdue_count, as_of)
    np.add.at(book.borrowers.episodes, loans.borrower[overdue_count > 0], 1)
    _initial_flags(rng, cfg, book, as_of)
    return book


def _assign_borrowers(rng: np.random.Generator, cfg: SynthConfig, n_loans: int) -> np.ndarray:
    """Borrower index of each loan: borrowers hold 1, 2, 3... loans in the configured mix."""
    mix = np.array(cfg.book.loans_per_borrower)
    per_borrower = rng.choice(len(mix), n_loans, p=mix / mix.sum()) + 1
    per_borrower = per_borrower[: np.searchsorted(np.cumsum(per_borrower), n_loans) + 1]
    return np.repeat(np.arange(len(per_borrower), dtype=np.int64), per_borrower)[:n_loans]


def _season(rng: np.random.Generator, cfg: SynthConfig, loans: Loans, as_of: int) -> None:
    """Originate each loan a uniform number of days back within its term (a steady-state book),
    then move it forward whole months where needed so that it has not yet matured."""
    span = np.minimum(loans.total * DAYS_PER_MONTH, cfg.book.seasoning_max_days)
    loans.orig = as_of - np.floor(rng.random(len(loans)) * span).astype(np.int64)
    loans.dom = due_day_of_month(loans.orig)
    passed = due_dates_passed(loans.orig, loans.dom, as_of)
    shift = np.maximum(passed - loans.total + 1, 0)
    loans.orig = np.where(shift > 0, due_date(loans.orig, shift, loans.dom), loans.orig)
    loans.maturity = due_date(loans.orig, loans.total, loans.dom)
    loans.n_due = np.minimum(due_dates_passed(loans.orig, loans.dom, as_of), loans.total - 1)


def _initial_overdue_count(rng, cfg: SynthConfig, book: Book, loans: Loans, as_of: int):
    """Overdue installments per loan (0 = current), drawn from the initial delinquency mix."""
    n = len(loans)
    share = np.array([g.initial_delinquent_share for g in cfg.risk_grades])
    late = (rng.random(n) < share[book.borrowers.grade[loans.borrower]]) & (loans.n_due >= 1)
    bands = cfg.delinquency
    highs = [b.max_dpd or cfg.book.write_off_after_dpd + M7_SPAN_DAYS for b in bands]
    lows = [1] + [h + 1 for h in highs[:-1]]
    mix = np.array([b.initial_share for b in bands])
    band = rng.choice(len(bands), n, p=mix / mix.sum())
    target = rng.integers(np.array(lows)[band], np.array(highs)[band] + 1)
    gap = as_of - due_date(loans.orig, loans.n_due, loans.dom)
    count = np.clip(np.round((target - gap) / DAYS_PER_MONTH) + 1, 1, np.maximum(loans.n_due, 1))
    return np.where(late, count, 0).astype(np.int64)


def annuity_balance(principal, rate_ppm, level, k) -> np.ndarray:
    """Principal left after ``k`` level installments, in cents."""
    r = rate_ppm / 1e6 / 12
    safe_r = np.where(r > 0, r, 1.0)
    growth = (1 + safe_r) ** k
    balance = np.where(
        r > 0, principal * growth - level * (growth - 1) / safe_r, principal - level * k
    )
    return np.clip(np.round(balance), 0, principal).astype(np.int64)


def _age(rng, cfg: SynthConfig, book: Book, loans: Loans, count: np.ndarray, as_of: int) -> None:
    loans.paid = loans.n_due - count
    line = loans.is_credit_line
    r = loans.rate_ppm / 1e6 / 12
    left = annuity_balance(loans.principal, loans.rate_ppm, loans.annuity, loans.n_due)
    at_paid = annuity_balance(loans.principal, loans.rate_ppm, loans.annuity, loans.paid)
    loans.od_prin = at_paid - left
    loans.od_int = np.maximum(count * loans.annuity - loans.od_prin, 0)
    loans.sched = left
    balance = _line_balances(rng, cfg, book, loans, count)
    spec = cfg.products.CREDIT_LINE
    minimum = np.minimum(
        np.maximum(np.round(balance * spec.min_payment_share), cents(spec.min_payment_floor)),
        balance,
    ).astype(np.int64)
    line_od = np.minimum(balance, count * minimum)
    line_int = np.round(balance * r).astype(np.int64)
    loans.od_prin = np.where(line, line_od, loans.od_prin)
    loans.od_int = np.where(line, count * line_int, loans.od_int)
    loans.sched = np.where(line, balance - line_od, loans.sched)
    loans.principal = np.where(line, np.maximum(loans.principal, balance), loans.principal)
    loans.inst_amt = np.maximum(np.where(line, minimum + line_int, loans.annuity), 1)
    dpd = np.where(count > 0, as_of - due_date(loans.orig, loans.paid + 1, loans.dom), 0)
    penalty = loans.rate_ppm / 1e6 * cfg.book.penalty_rate_multiplier / 360
    loans.od_fee = np.round(loans.od_prin * penalty * dpd / 2).astype(np.int64)
    has_paid = loans.paid >= 1
    loans.last_pay_day = np.where(has_paid, due_date(loans.orig, loans.paid, loans.dom), NO_DAY)
    loans.last_pay_amt = np.where(has_paid, loans.inst_amt, 0)


def _line_balances(rng, cfg: SynthConfig, book: Book, loans: Loans, count) -> np.ndarray:
    mean = np.array([g.utilisation for g in cfg.risk_grades])[book.borrowers.grade[loans.borrower]]
    mean = np.clip(mean, 0.01, 0.99)
    u = rng.beta(mean * UTILISATION_CONCENTRATION, (1 - mean) * UTILISATION_CONCENTRATION)
    u = np.where(count > 0, np.maximum(u, rng.uniform(0.7, 1.0, len(u))), u)
    return np.where(loans.is_credit_line, np.round(u * loans.limit / 100) * 100, 0).astype(np.int64)


def _initial_flags(rng, cfg: SynthConfig, book: Book, as_of: int) -> None:
    loans, f, n = book.loans, cfg.flags, len(book.loans)
    dpd = loans.dpd(as_of)
    late = dpd > 0
    deep = np.maximum(dpd - f.litigation_min_dpd, 0)
    loans.litigation = rng.random(n) < 1 - (1 - f.litigation_daily_probability) ** deep
    dispute_p = np.where(
        late,
        np.minimum(f.dispute_daily_probability_delinquent * dpd, 0.5),
        f.dispute_daily_probability
        / (f.dispute_daily_probability + f.dispute_resolution_daily_probability),
    )
    loans.dispute = rng.random(n) < dispute_p
    _initial_forbearance(rng, cfg, loans, dpd, as_of)
    b = book.borrowers
    late_b = np.zeros(len(b), dtype=bool)
    late_b[loans.borrower[late]] = True
    days = FLAG_EXPOSURE_DAYS
    b.deceased = rng.random(len(b)) < f.deceased_daily_probability * days
    bankrupt_p = f.bankruptcy_daily_probability * days
    b.bankrupt = rng.random(len(b)) < np.where(
        late_b, bankrupt_p * f.bankruptcy_delinquent_multiplier, bankrupt_p
    )
    cease = f.cease_contact_daily_probability_delinquent * days
    b.cease_contact = late_b & (rng.random(len(b)) < cease)
    episodes_mean = np.array([g.past_episodes_mean for g in cfg.risk_grades])
    b.episodes = b.episodes + rng.poisson(episodes_mean[b.grade])


def _initial_forbearance(rng, cfg: SynthConfig, loans: Loans, dpd: np.ndarray, as_of: int) -> None:
    fb, n = cfg.forbearance, len(loans)
    exposure = np.clip(np.minimum(dpd, fb.max_dpd) - fb.min_dpd + 1, 0, None)
    granted = rng.random(n) < 1 - (1 - fb.daily_probability) ** exposure
    deferral = rng.random(n) < fb.deferral_share
    loans.forb = np.where(granted, np.where(deferral, DEFERRAL, INSTALLMENT_PLAN), NONE).astype(
        np.int8
    )
    since = (rng.random(n) * exposure).astype(np.int64)
    loans.forb_start = np.where(granted, np.maximum(as_of - since, loans.orig), NO_DAY)
