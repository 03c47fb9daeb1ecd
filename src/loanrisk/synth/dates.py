"""Vectorised calendar arithmetic on day numbers (int days since 1970-01-01).

Monthly schedules: installment ``k`` of a loan originated on day ``orig`` falls due ``k`` months
later on day-of-month ``dom`` (the origination day of month, capped at 28 so that every month has
it). ``due_date(orig, 1, dom)`` is always after ``orig``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

EPOCH = dt.date(1970, 1, 1)
NO_DAY = -1  # a null date in the state arrays
MAX_DUE_DAY = 28


def to_day(value: dt.date) -> int:
    return (value - EPOCH).days


def from_day(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each day."""
    return (
        np.asarray(days, dtype="int64")
        .astype("datetime64[D]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def day_of_month(days: np.ndarray) -> np.ndarray:
    days = np.asarray(days, dtype=np.int64)
    first = month_index(days).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return days - first + 1


def due_day_of_month(orig: np.ndarray) -> np.ndarray:
    return np.minimum(day_of_month(orig), MAX_DUE_DAY)


def due_date(orig: np.ndarray, k: np.ndarray | int, dom: np.ndarray) -> np.ndarray:
    """Day number of the k-th monthly due date."""
    months = month_index(orig) + np.asarray(k, dtype=np.int64)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return first + np.asarray(dom, dtype=np.int64) - 1


def due_dates_passed(orig: np.ndarray, dom: np.ndarray, as_of: int) -> np.ndarray:
    """How many due dates k >= 1 fall on or before day ``as_of``."""
    months = month_index(np.array([as_of]))[0] - month_index(orig)
    reached = day_of_month(np.array([as_of]))[0] >= dom
    return np.maximum(months - 1 + reached.astype(np.int64), 0)
