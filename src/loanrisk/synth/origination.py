"""New borrowers and new loans: the shared builders of the initial book and daily originations."""

from __future__ import annotations

import numpy as np

from loanrisk.synth.dates import NO_DAY, due_date, due_day_of_month
from loanrisk.synth.identity import make_identities
from loanrisk.synth.settings import AmortisingProduct, SynthConfig, cents
from loanrisk.synth.state import CREDIT_LINE, NONE, Book, Borrowers, Loans

AMOUNT_STEP = 10_000  # amounts and limits are whole hundreds of CNY
RATE_NOISE = 0.01
RATE_FLOOR = 0.01
RATE_CAP = 0.36


def new_borrowers(
    rng: np.random.Generator, cfg: SynthConfig, n: int, as_of_day: int
) -> tuple[Borrowers, object]:
    """``n`` new borrowers with their latent risk and their identities."""
    shares = np.array([g.share for g in cfg.risk_grades])
    grade = rng.choice(len(shares), n, p=shares / shares.sum()).astype(np.int8)
    identities, region_idx = make_identities(rng, n, cfg.identity, as_of_day)
    borrowers = Borrowers(
        grade=grade,
        fraud=rng.random(n) < cfg.book.fraud_borrower_share,
        episodes=np.zeros(n, dtype=np.int64),
        region_idx=region_idx.astype(np.int64),
        devices=np.zeros(n, dtype=np.int64),
        deceased=np.zeros(n, dtype=bool),
        bankrupt=np.zeros(n, dtype=bool),
        cease_contact=np.zeros(n, dtype=bool),
    )
    return borrowers, identities


def _log_uniform_cents(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    raw = np.exp(rng.uniform(np.log(low), np.log(high), n))
    return np.maximum(np.round(raw / AMOUNT_STEP), 1).astype(np.int64) * AMOUNT_STEP


def _amortising_terms(
    rng: np.random.Generator, product: AmortisingProduct, n: int, stock: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Terms and principals; ``stock``: as found on a book, where long terms stay longer."""
    terms = np.array(product.terms)
    weights = np.array(product.term_weights) * (terms if stock else 1)
    term = rng.choice(terms, n, p=weights / weights.sum())
    amount = _log_uniform_cents(rng, cents(product.amount_min), cents(product.amount_max), n)
    return term.astype(np.int64), amount


def annuity(principal: np.ndarray, rate_ppm: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Level monthly installment (principal + interest) in cents."""
    r = rate_ppm / 1e6 / 12
    safe_r = np.where(r > 0, r, 1.0)
    level = np.where(r > 0, principal * safe_r / (1 - (1 + safe_r) ** (-term)), principal / term)
    return np.ceil(level).astype(np.int64)


def _product_terms(rng, cfg: SynthConfig, product: np.ndarray, stock: bool):
    """Term (months), principal, limit and rate offset for each loan by product."""
    n = len(product)
    term = np.zeros(n, dtype=np.int64)
    principal = np.zeros(n, dtype=np.int64)
    limit = np.zeros(n, dtype=np.int64)
    offset = np.zeros(n)
    for code, spec in enumerate((cfg.products.CASH_LOAN, cfg.products.INSTALLMENT)):
        rows = np.flatnonzero(product == code)
        term[rows], principal[rows] = _amortising_terms(rng, spec, len(rows), stock)
        offset[rows] = spec.rate_offset
    line = cfg.products.CREDIT_LINE
    rows = np.flatnonzero(product == CREDIT_LINE)
    limit[rows] = _log_uniform_cents(rng, cents(line.limit_min), cents(line.limit_max), len(rows))
    share = rng.uniform(line.draw_share_min, line.draw_share_max, len(rows))
    draw = np.floor(limit[rows] * share / AMOUNT_STEP).astype(np.int64) * AMOUNT_STEP
    principal[rows] = np.maximum(draw, AMOUNT_STEP)
    term[rows] = line.line_term_months
    offset[rows] = line.rate_offset
    return term, principal, limit, offset


def new_loans(
    rng: np.random.Generator,
    cfg: SynthConfig,
    borrower: np.ndarray,
    grade: np.ndarray,
    orig: np.ndarray,
    first_no: int,
    stock: bool = False,
) -> Loans:
    """Freshly disbursed loans (nothing due yet) for the given borrowers (of the given risk
    grades) and dates, numbered from ``first_no``."""
    n = len(borrower)
    mix = cfg.products
    shares = np.array([mix.CASH_LOAN.share, mix.INSTALLMENT.share, mix.CREDIT_LINE.share])
    product = rng.choice(3, n, p=shares / shares.sum()).astype(np.int8)
    term, principal, limit, offset = _product_terms(rng, cfg, product, stock)
    grade_rate = np.array([g.annual_rate for g in cfg.risk_grades])[grade]
    rate = grade_rate + offset + rng.normal(0, RATE_NOISE, n)
    rate_ppm = np.round(np.clip(rate, RATE_FLOOR, RATE_CAP) * 10_000).astype(np.int64) * 100
    dom = due_day_of_month(orig)
    level = np.where(product == CREDIT_LINE, 0, annuity(principal, rate_ppm, np.maximum(term, 1)))
    return Loans(
        loan_no=np.arange(first_no, first_no + n, dtype=np.int64),
        borrower=borrower.astype(np.int64),
        product=product,
        orig=orig.astype(np.int64),
        dom=dom,
        total=term,
        maturity=due_date(orig, term, dom),
        principal=principal,
        limit=limit,
        rate_ppm=rate_ppm,
        annuity=level,
        inst_amt=np.maximum(level, 1),
        sched=principal.copy(),
        **_nothing_happened_yet(n),
    )


def _nothing_happened_yet(n: int) -> dict[str, np.ndarray]:
    """The state of a loan on its disbursement day, beside its terms."""
    counters = ("n_due", "paid", "od_prin", "od_int", "od_fee", "last_pay_amt")
    days = ("last_pay_day", "forb_start", "cure_day", "promised_until")
    return {
        **{name: np.zeros(n, dtype=np.int64) for name in counters},
        **{name: np.full(n, NO_DAY, dtype=np.int64) for name in days},
        "forb": np.full(n, NONE, dtype=np.int8),
        "litigation": np.zeros(n, dtype=bool),
        "dispute": np.zeros(n, dtype=bool),
    }


def pick_repeat_customers(
    rng: np.random.Generator, book: Book, wanted: int, max_loans: int
) -> np.ndarray:
    """Up to ``wanted`` distinct existing borrowers in good standing with room for a loan."""
    loans, borrowers = book.loans, book.borrowers
    counts = np.bincount(loans.borrower, minlength=len(borrowers))
    bad = borrowers.flagged | borrowers.cease_contact | borrowers.fraud
    bad[loans.borrower[loans.delinquent | loans.dispute | loans.litigation]] = True
    candidates = np.flatnonzero((counts >= 1) & (counts < max_loans) & ~bad)
    take = min(wanted, len(candidates))
    if take == 0:
        return np.zeros(0, dtype=np.int64)
    return np.sort(rng.choice(candidates, take, replace=False))
