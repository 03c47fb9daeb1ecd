"""Money moving on a business day: due dates, payments, cures, early payoffs, penalty interest.

Every payment is allocated to penalty fees, then overdue interest, then overdue principal, and
installments count as repaid oldest first; that keeps the oldest unpaid due date (and so the days
past due) consistent with the overdue amounts.
"""

from __future__ import annotations

import numpy as np

from loanrisk.synth.dates import due_date
from loanrisk.synth.settings import SynthConfig, cents
from loanrisk.synth.state import CLOSED, DEFERRAL, NO_DAY, NONE, Book, Day, Loans, daily_hazard

PARTIAL_MIN, PARTIAL_MAX = 0.2, 0.8
DAY_COUNT = 360  # act/360 for interest accrued between due dates and penalty interest


def installment_split(loans: Loans, idx: np.ndarray, cfg: SynthConfig) -> tuple[np.ndarray, ...]:
    """Principal and interest of each loan's next installment (statement, for a credit line)."""
    sched = loans.sched[idx]
    interest = np.round(sched * loans.rate_ppm[idx] / 1e6 / 12).astype(np.int64)
    level = np.minimum(sched, np.maximum(loans.annuity[idx] - interest, 0))
    spec = cfg.products.CREDIT_LINE
    minimum = np.maximum(np.round(sched * spec.min_payment_share), cents(spec.min_payment_floor))
    line = np.minimum(sched, minimum.astype(np.int64))
    principal = np.where(loans.is_credit_line[idx], line, level)
    last = loans.n_due[idx] + 1 >= loans.total[idx]
    return np.where(last, sched, principal), interest


def pay(book: Book, today: Day, idx: np.ndarray, amount: np.ndarray) -> None:
    """Apply payments (at most the overdue amount) and settle installments oldest first."""
    loans = book.loans
    amount = np.minimum(amount, loans.overdue[idx])
    idx, amount = idx[amount > 0], amount[amount > 0]
    rest = amount.copy()
    for part in ("od_fee", "od_int", "od_prin"):
        column = getattr(loans, part)
        applied = np.minimum(rest, column[idx])
        column[idx] -= applied
        rest -= applied
    remaining = loans.od_prin[idx] + loans.od_int[idx]
    open_count = np.maximum(loans.n_due[idx] - loans.paid[idx], 1)
    still = np.clip(np.ceil(remaining / loans.inst_amt[idx]), 1, open_count).astype(np.int64)
    settled = np.where(remaining > 0, loans.n_due[idx] - still, loans.n_due[idx])
    loans.paid[idx] = np.maximum(loans.paid[idx], settled)
    loans.od_fee[idx] = np.where(remaining > 0, loans.od_fee[idx], 0)
    _record(loans, today, idx, amount)


def _record(loans: Loans, today: Day, idx: np.ndarray, amount: np.ndarray) -> None:
    got = amount > 0
    idx, amount = idx[got], amount[got]
    today.paid_today[idx] += amount
    loans.last_pay_day[idx] = today.day
    loans.last_pay_amt[idx] = today.paid_today[idx]


def behaviour_multiplier(cfg: SynthConfig, book: Book, idx: np.ndarray, day: int) -> np.ndarray:
    """Miss-probability multiplier from the scorecard's drivers: young loans (fading linearly
    over young_loan_months) and a small repaid share of principal miss more."""
    loans, rp = book.loans, cfg.repayment
    young = np.clip(1 - loans.months_on_book(day)[idx] / rp.young_loan_months, 0, 1)
    seasoning = 1 + (rp.young_loan_miss_multiplier - 1) * young
    repaid = np.clip(1 + rp.repaid_share_slope * (0.5 - loans.repaid_share()[idx]), 0.2, None)
    return seasoning * repaid


def miss_probability(cfg: SynthConfig, book: Book, idx: np.ndarray, day: int) -> np.ndarray:
    """Chance that a current loan misses the installment due today."""
    loans, borrowers, rp = book.loans, book.borrowers, cfg.repayment
    who = loans.borrower[idx]
    base = np.array([g.miss_probability for g in cfg.risk_grades])[borrowers.grade[who]]
    usage = np.clip(1 + rp.utilisation_slope * (loans.utilisation()[idx] - 0.5), 0.2, None)
    repeat = rp.repeat_miss_multiplier ** np.minimum(
        borrowers.episodes[who], rp.repeat_episodes_cap
    )
    p = base * usage * repeat * behaviour_multiplier(cfg, book, idx, day)
    first = loans.n_due[idx] == 1
    p = np.where(borrowers.fraud[who] & first, np.maximum(p, rp.fraud_first_payment_miss), p)
    p = np.where(borrowers.flagged[who], np.maximum(p, rp.flagged_miss_probability), p)
    return np.clip(p, 0.0, 1.0)


def process_due(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    """Installments falling due today: on time, partly paid, paid late or missed."""
    loans = book.loans
    idx = np.flatnonzero(loans.next_due() == today.day)
    today.due_today[idx] = True
    principal, interest = installment_split(loans, idx, cfg)
    was_late = loans.delinquent[idx]
    empty = (principal + interest == 0) & ~was_late
    loans.n_due[idx] += 1
    loans.paid[idx[empty]] += 1
    loans.sched[idx] -= principal
    loans.od_prin[idx] += principal
    loans.od_int[idx] += interest
    line = loans.is_credit_line[idx]
    loans.inst_amt[idx] = np.where(line, np.maximum(principal + interest, 1), loans.inst_amt[idx])
    _borrower_decides(rng, cfg, book, today, idx[~was_late & ~empty])


def _borrower_decides(rng, cfg: SynthConfig, book: Book, today: Day, idx: np.ndarray) -> None:
    loans, rp = book.loans, cfg.repayment
    due = loans.overdue[idx]
    u = rng.random(len(idx))
    miss = u < miss_probability(cfg, book, idx, today.day)
    kind = rng.random(len(idx))
    partial = miss & (kind < rp.partial_share_of_misses)
    late = miss & ~partial & (kind < rp.partial_share_of_misses + rp.late_share_of_misses)
    share = rng.uniform(PARTIAL_MIN, PARTIAL_MAX, len(idx))
    amount = np.where(partial, np.round(due * share), np.where(miss, 0, due)).astype(np.int64)
    delay = rng.integers(1, rp.late_days_max + 1, len(idx))
    loans.cure_day[idx[late]] = today.day + delay[late]
    np.add.at(book.borrowers.episodes, loans.borrower[idx[miss]], 1)
    pay(book, today, idx, amount)


def delinquent_payments(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    """Loans past due: kept promises and late payers cure; others cure, catch up or roll."""
    loans = book.loans
    promised = np.flatnonzero(loans.delinquent & (loans.cure_day == today.day))
    pay(book, today, promised, loans.overdue[promised])
    loans.cure_day[loans.cure_day <= today.day] = NO_DAY
    idx = np.flatnonzero(today.was_delinquent & loans.delinquent)
    dpd = today.day - loans.oldest_unpaid()[idx]
    cure, partial = cure_hazards(cfg, book, idx, dpd)
    u = rng.random(len(idx))
    catch_up = loans.od_fee[idx] + np.minimum(
        loans.od_int[idx] + loans.od_prin[idx], loans.inst_amt[idx]
    )
    amount = np.where(u < cure, loans.overdue[idx], np.where(u < cure + partial, catch_up, 0))
    pay(book, today, idx, amount)


def cure_hazards(cfg: SynthConfig, book: Book, idx: np.ndarray, dpd: np.ndarray):
    """Daily hazards to cure and to pay one installment, by band, grade and circumstances."""
    loans, borrowers, rp = book.loans, book.borrowers, cfg.repayment
    bands = cfg.delinquency
    edges = np.array([b.max_dpd for b in bands[:-1]], dtype=np.int64)
    band = np.searchsorted(edges, dpd, side="left")
    cure = daily_hazard(np.array([b.cure_30d for b in bands]), 30)[band]
    partial = daily_hazard(np.array([b.partial_30d for b in bands]), 30)[band]
    who = loans.borrower[idx]
    mult = np.array([g.cure_multiplier for g in cfg.risk_grades])[borrowers.grade[who]]
    mult = mult * np.where(borrowers.fraud[who], rp.fraud_cure_multiplier, 1.0)
    mult = mult * np.where(borrowers.flagged[who], rp.flagged_cure_multiplier, 1.0)
    mult = mult * np.where(loans.forb[idx] != NONE, cfg.forbearance.cure_multiplier, 1.0)
    earlier = np.clip(borrowers.episodes[who] - 1, 0, rp.repeat_episodes_cap)  # not this one
    mult = mult * rp.repeat_cure_multiplier**earlier
    usage = loans.utilisation()[idx] - 0.5
    mult = mult * np.clip(1 - rp.utilisation_cure_slope * usage, 0.2, None)
    return np.clip(cure * mult, 0, 1), np.clip(partial * mult, 0, 1)


def early_payoffs(rng: np.random.Generator, cfg: SynthConfig, book: Book, today: Day) -> None:
    """Current loans repaid in full before maturity (a credit line: repaid and closed)."""
    loans, products = book.loans, cfg.products
    annual = np.array(
        [
            p.early_payoff_annual
            for p in (products.CASH_LOAN, products.INSTALLMENT, products.CREDIT_LINE)
        ]
    )
    hazard = daily_hazard(annual, 365)[loans.product]
    eligible = ~loans.delinquent & ~today.due_today & (loans.orig < today.day)
    idx = np.flatnonzero(eligible & (rng.random(len(loans)) < hazard))
    since = today.day - np.where(
        loans.n_due[idx] > 0,
        due_date(loans.orig[idx], loans.n_due[idx], loans.dom[idx]),
        loans.orig[idx],
    )
    accrued = np.round(loans.sched[idx] * loans.rate_ppm[idx] / 1e6 * since / DAY_COUNT)
    amount = loans.sched[idx] + accrued.astype(np.int64)
    loans.sched[idx] = 0
    loans.n_due[idx] = np.where(loans.is_credit_line[idx], loans.n_due[idx], loans.total[idx])
    loans.paid[idx] = loans.n_due[idx]
    _record(loans, today, idx, amount)
    today.status[idx] = CLOSED


def accrue_penalty(cfg: SynthConfig, book: Book, today: Day) -> None:
    """Penalty interest on overdue principal, from the day after the due date, not in deferral."""
    loans = book.loans
    late = loans.delinquent & (loans.oldest_unpaid() < today.day) & (loans.forb != DEFERRAL)
    daily = loans.rate_ppm / 1e6 * cfg.book.penalty_rate_multiplier / DAY_COUNT
    loans.od_fee += np.where(late, np.round(loans.od_prin * daily), 0).astype(np.int64)
