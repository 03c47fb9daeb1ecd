"""The simulated book's state: one numpy array per attribute, carried from day to day.

Amounts are int64 cents, dates int64 day numbers (``NO_DAY`` = null). A loan's schedule is
described by counters, so that every reported date follows from them:

- ``n_due``: installments (statements, for a credit line) that have fallen due so far;
- ``paid``: installments fully repaid, oldest first; the loan is delinquent iff ``n_due > paid``
  and then its oldest unpaid due date is installment ``paid + 1``'s;
- ``sched``: principal not yet due; ``od_prin`` / ``od_int`` / ``od_fee``: due and unpaid.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import polars as pl

from loanrisk.synth.dates import NO_DAY, due_date

PRODUCTS = ("CASH_LOAN", "INSTALLMENT", "CREDIT_LINE")
CREDIT_LINE = 2
STATUSES = ("ACTIVE", "CLOSED", "WRITTEN_OFF")
ACTIVE, CLOSED, WRITTEN_OFF = 0, 1, 2
FORBEARANCE = ("NONE", "INSTALLMENT_PLAN", "DEFERRAL")
NONE, INSTALLMENT_PLAN, DEFERRAL = 0, 1, 2
DAYS_PER_MONTH = 30.44


def _concat_fields(cls, a, b):
    return cls(
        **{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(cls)}
    )


@dataclass
class Loans:
    """Every loan alive at the end of the previous day (plus today's originations)."""

    loan_no: np.ndarray
    borrower: np.ndarray  # index into Borrowers
    product: np.ndarray  # index into PRODUCTS
    orig: np.ndarray
    dom: np.ndarray  # due day of month
    total: np.ndarray  # installments (a credit line: statements until expiry)
    maturity: np.ndarray
    principal: np.ndarray  # original principal; a credit line: all draws so far
    limit: np.ndarray  # credit lines only, else 0
    rate_ppm: np.ndarray  # annual rate in millionths
    annuity: np.ndarray  # amortising loans' level installment
    inst_amt: np.ndarray  # latest installment amount, to count overdue installments
    n_due: np.ndarray
    paid: np.ndarray
    sched: np.ndarray
    od_prin: np.ndarray
    od_int: np.ndarray
    od_fee: np.ndarray
    last_pay_day: np.ndarray
    last_pay_amt: np.ndarray
    forb: np.ndarray
    forb_start: np.ndarray
    litigation: np.ndarray
    dispute: np.ndarray
    cure_day: np.ndarray  # a payment in full of the overdue amount is scheduled for this day
    promised_until: np.ndarray  # latest promise date given to collections (kept or not)

    def __len__(self) -> int:
        return len(self.loan_no)

    def take(self, index: np.ndarray) -> Loans:
        return Loans(**{f.name: getattr(self, f.name)[index] for f in fields(Loans)})

    def concat(self, other: Loans) -> Loans:
        return _concat_fields(Loans, self, other)

    @property
    def is_credit_line(self) -> np.ndarray:
        return self.product == CREDIT_LINE

    @property
    def outstanding(self) -> np.ndarray:
        return self.sched + self.od_prin

    @property
    def overdue(self) -> np.ndarray:
        return self.od_prin + self.od_int + self.od_fee

    @property
    def delinquent(self) -> np.ndarray:
        return self.n_due > self.paid

    def oldest_unpaid(self) -> np.ndarray:
        late = self.delinquent
        return np.where(late, due_date(self.orig, self.paid + 1, self.dom), NO_DAY)

    def dpd(self, day: int) -> np.ndarray:
        return np.where(self.delinquent, day - self.oldest_unpaid(), 0)

    def next_due(self) -> np.ndarray:
        more = self.n_due < self.total
        return np.where(more, due_date(self.orig, self.n_due + 1, self.dom), NO_DAY)

    def utilisation(self) -> np.ndarray:
        base = np.where(self.is_credit_line, self.limit, self.principal)
        return self.outstanding / np.maximum(base, 1)

    def repaid_share(self) -> np.ndarray:
        """Share of the principal (a credit line: of all draws) repaid, in [0, 1]."""
        return np.clip(1 - self.outstanding / np.maximum(self.principal, 1), 0, 1)

    def months_on_book(self, day: int) -> np.ndarray:
        """Months since origination, fractional (30.44-day months)."""
        return np.maximum(day - self.orig, 0) / DAYS_PER_MONTH


@dataclass
class Borrowers:
    """Every borrower of the block ever created; the index is the borrower number minus one,
    less the block's ``Book.first_borrower``."""

    grade: np.ndarray
    fraud: np.ndarray
    episodes: np.ndarray  # delinquency episodes so far
    region_idx: np.ndarray
    devices: np.ndarray  # device changes so far
    deceased: np.ndarray
    bankrupt: np.ndarray
    cease_contact: np.ndarray

    def __len__(self) -> int:
        return len(self.grade)

    def concat(self, other: Borrowers) -> Borrowers:
        return _concat_fields(Borrowers, self, other)

    @property
    def flagged(self) -> np.ndarray:
        return self.deceased | self.bankrupt


@dataclass
class Book:
    """The simulation state of one block of borrowers (the whole book when it is one block)."""

    loans: Loans
    borrowers: Borrowers
    identities: pl.DataFrame  # PII columns, one row per borrower
    next_loan_no: int
    first_borrower: int = 0  # the number in the book (from 0) of this block's borrower 0

    def add_borrowers(self, borrowers: Borrowers, identities: pl.DataFrame) -> np.ndarray:
        """Append borrowers; returns their indices."""
        first = len(self.borrowers)
        self.borrowers = self.borrowers.concat(borrowers)
        self.identities = pl.concat([self.identities, identities], rechunk=False)
        return np.arange(first, first + len(borrowers), dtype=np.int64)


def borrower_mask(book: Book, loan_mask: np.ndarray) -> np.ndarray:
    """Borrowers with at least one loan in ``loan_mask``."""
    out = np.zeros(len(book.borrowers), dtype=bool)
    out[book.loans.borrower[loan_mask]] = True
    return out


def daily_hazard(probability: np.ndarray | float, days: float) -> np.ndarray:
    """Daily hazard of a probability over ``days`` days."""
    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    return 1.0 - np.power(1.0 - p, 1.0 / days)


@dataclass
class Day:
    """What happens on one business day, beside the state itself (for the feeds and the file)."""

    day: int
    was_delinquent: np.ndarray  # per loan, at the start of the day
    due_today: np.ndarray  # per loan
    paid_today: np.ndarray  # cents received per loan
    status: np.ndarray  # per loan, at the end of the day
    disbursed_borrower: np.ndarray  # one entry per disbursement (new loan or credit-line draw)
    disbursed_amount: np.ndarray
    disbursed_loan: np.ndarray
    originated: int = 0

    @classmethod
    def start(cls, day: int, loans: Loans) -> Day:
        n = len(loans)
        empty = np.zeros(0, dtype=np.int64)
        return cls(
            day=day,
            was_delinquent=loans.delinquent.copy(),
            due_today=np.zeros(n, dtype=bool),
            paid_today=np.zeros(n, dtype=np.int64),
            status=np.full(n, ACTIVE, dtype=np.int8),
            disbursed_borrower=empty,
            disbursed_amount=empty,
            disbursed_loan=empty,
        )

    def disburse(self, loan: np.ndarray, borrower: np.ndarray, amount: np.ndarray) -> None:
        self.disbursed_loan = np.concatenate([self.disbursed_loan, loan])
        self.disbursed_borrower = np.concatenate([self.disbursed_borrower, borrower])
        self.disbursed_amount = np.concatenate([self.disbursed_amount, amount])
