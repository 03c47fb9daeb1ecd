"""PBoC-style monthly credit-bureau repayment report (DESIGN.md §5 v2): reporting periods,
repayment status codes and the 24-month history string, as pure Polars. No I/O here.

Definitions (field list, order and codes in ``data_contracts/reg_credit_report.yaml``):

* reporting day R of a month: its last calendar day, or the configured day 1-28; the reporting
  period is the calendar days after the previous month's R up to and including R;
* data day: R when R is a processed day, else the latest processed day of the period before R
  (the first processed day after R builds the report then);
* a loan is reported when it is in the snapshot on any processed day of the period; its row
  holds its values on the last such day (the data day, or the day it closed, was written off
  or was last seen), its ``data_date``;
* a payment is due in the period when, on a processed day from the last one before the period
  to the data day, its next_due_date falls in the period, or on a processed day of the period
  an amount was past due (oldest_unpaid_due_date set), or the instalment before the data
  date's next_due_date (``instalment_interval_months`` earlier) falls in the period after the
  origination date (so the first report of a data_root sees the due dates before its days);
* a loan was past due in the period when its loan_aging dpd was above 0 on a processed day
  of the period (``past_due_in_period``);
* status (DESIGN.md §5 v2), first match: ``B`` written off, ``C`` closed, ``1``-``7`` by dpd
  band at the data date, ``M`` current at the data date but past due in the period (repaid
  after a due date but before the reporting day), ``N`` current with a payment due in the
  period, ``*`` nothing due;
* overdue periods (DESIGN.md §5 v2) = ceil(dpd / overdue_period_days), 0 when dpd is 0, for an
  instalment loan (installments_total set) capped by the instalments not yet paid:
  installments_total - installments_paid (a null installments_paid counts as none paid), at
  least 0;
* the 24-month history is the previous stored report's history shifted left by the months
  between the two reports, ``#`` for each skipped month, then this month's status; a loan
  without a previous row gets ``/`` for each month whose reporting day is before its
  origination date (not open yet) and ``#`` for the others (open, status unknown: before this
  data_root's reports began).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import polars as pl

from loanrisk.domain.regulatory import CreditReportPolicy

HISTORY_MONTHS = 24
NOT_OPEN, UNKNOWN = "/", "#"
NORMAL, NOTHING_DUE, CLOSED, WRITTEN_OFF, PAID_LATE = "N", "*", "C", "B", "M"


@dataclass(frozen=True)
class ReportingPeriod:
    """One credit report: its reporting day, the first day of its period, its data day."""

    reporting_day: dt.date
    first_day: dt.date
    data_day: dt.date

    @property
    def month(self) -> str:
        return self.reporting_day.strftime("%Y-%m")


def reporting_day_of(year: int, month: int, day: str | int) -> dt.date:
    """The reporting day of a calendar month (``day``: ``"last"`` or 1-28)."""
    if day == "last":
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    return dt.date(year, month, int(day))


def months_back(reporting_day: dt.date, months: int, day: str | int) -> dt.date:
    """The reporting day ``months`` calendar months before the month of ``reporting_day``."""
    index = reporting_day.year * 12 + reporting_day.month - 1 - months
    return reporting_day_of(index // 12, index % 12 + 1, day)


def months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def latest_reporting_day(business_date: dt.date, day: str | int) -> dt.date:
    """The latest reporting day on or before ``business_date``."""
    this_month = reporting_day_of(business_date.year, business_date.month, day)
    return this_month if this_month <= business_date else months_back(this_month, 1, day)


def period_to_build(
    business_date: dt.date, processed: list[dt.date], day: str | int
) -> tuple[ReportingPeriod | None, str]:
    """The report the run of ``business_date`` builds (``processed``: the processed days), or
    None and why not."""
    reporting = latest_reporting_day(business_date, day)
    first = months_back(reporting, 1, day) + dt.timedelta(days=1)
    earlier = [d for d in processed if d < business_date]
    if business_date == reporting:
        return ReportingPeriod(reporting, first, business_date), "reporting day"
    if earlier and first <= earlier[-1] < reporting:
        period = ReportingPeriod(reporting, first, earlier[-1])
        return period, f"reporting day {reporting} was not processed"
    upcoming = reporting_day_of(business_date.year, business_date.month, day)
    if upcoming <= business_date:
        upcoming = months_back(upcoming, -1, day)
    return None, f"not a reporting day (next: {upcoming})"


def repayment_status(policy: CreditReportPolicy) -> pl.Expr:
    """DESIGN.md §5 v2 status code: B written off, C closed, M / N / * at dpd 0 past due in
    the period / a payment due / neither, 1-7 by dpd band."""
    dpd = pl.col("dpd")
    status = (
        pl.when(pl.col("account_status") == "WRITTEN_OFF")
        .then(pl.lit(WRITTEN_OFF))
        .when(pl.col("account_status") == "CLOSED")
        .then(pl.lit(CLOSED))
        .when((dpd <= 0) & pl.col("past_due_in_period"))
        .then(pl.lit(PAID_LATE))
        .when((dpd <= 0) & pl.col("payment_due_in_period"))
        .then(pl.lit(NORMAL))
        .when(dpd <= 0)
        .then(pl.lit(NOTHING_DUE))
    )
    for code, edge in enumerate(policy.overdue_status_max_dpd, start=1):
        status = status.when(dpd <= edge).then(pl.lit(str(code)))
    return status.otherwise(pl.lit(str(len(policy.overdue_status_max_dpd) + 1)))


def instalments_not_yet_paid() -> pl.Expr:
    """installments_total - installments_paid (null paid: none paid), at least 0; null without
    installments_total (a line or loan without a schedule)."""
    paid = pl.col("installments_paid").fill_null(0)
    return (pl.col("installments_total") - paid).clip(lower_bound=0)


def overdue_periods(policy: CreditReportPolicy) -> pl.Expr:
    """DESIGN.md §5 v2: min(ceil(dpd / overdue_period_days), instalments not yet paid)."""
    days = policy.overdue_period_days
    periods = (pl.col("dpd").clip(lower_bound=0) + days - 1) // days
    left = instalments_not_yet_paid()
    capped = pl.when(left.is_not_null()).then(pl.min_horizontal(periods, left)).otherwise(periods)
    return capped.cast(pl.Int32)


def last_dates(aging: pl.LazyFrame) -> pl.LazyFrame:
    """(loan_id, data_date, past_due_in_period) from the period's loan_aging: the last processed
    day each loan is in the snapshot; whether its dpd was above 0 on any processed day."""
    return aging.group_by("loan_id").agg(
        pl.col("snapshot_date").max().alias("data_date"),
        (pl.col("dpd") > 0).any().alias("past_due_in_period"),
    )


def last_rows(
    aging: pl.LazyFrame,
    snapshots: pl.LazyFrame,
    states: pl.LazyFrame,
    latest: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Each loan's row on its ``data_date`` (``latest``, else ``last_dates(aging)``): its
    loan_aging, ``latest``'s past_due_in_period, that day's snapshot details (installments_total
    and installments_paid among them) and its loan_state's first_delinquency_date."""
    keys = ["loan_id", "data_date"]
    latest = last_dates(aging) if latest is None else latest

    def on_last_day(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.rename({"snapshot_date": "data_date"}).join(latest, on=keys, how="semi")

    details = on_last_day(snapshots.drop("oldest_unpaid_due_date"))
    return (
        aging.rename({"snapshot_date": "data_date"})
        .join(latest, on=keys, how="inner")  # one row per key, with its past_due_in_period
        .join(details, on=keys, how="left")
        .join(on_last_day(states), on=keys, how="left")
    )


def payments_due(snapshots: pl.LazyFrame, period: ReportingPeriod) -> pl.LazyFrame:
    """(loan_id, payment_due_in_period) from the snapshots of the processed days from the last
    one before the period to the data day."""
    due_in_period = pl.col("next_due_date").is_between(period.first_day, period.reporting_day)
    in_arrears = (pl.col("snapshot_date") >= period.first_day) & pl.col(
        "oldest_unpaid_due_date"
    ).is_not_null()
    return snapshots.group_by("loan_id").agg(
        (due_in_period | in_arrears).fill_null(False).any().alias("payment_due_in_period")
    )


def _previous_due(period: ReportingPeriod, policy: CreditReportPolicy) -> pl.Expr:
    """The instalment before next_due_date fell in the period, after the origination date."""
    months = policy.instalment_interval_months
    before = pl.col("next_due_date").dt.offset_by(f"-{months}mo")
    in_period = before.is_between(period.first_day, period.reporting_day)
    return (in_period & (before > pl.col("origination_date"))).fill_null(False)


def _filler(period: ReportingPeriod, day: str | int) -> pl.Expr:
    """The 23 months before the reporting month, oldest first: ``/`` not open yet, ``#``."""
    marks = []
    for back in range(HISTORY_MONTHS - 1, 0, -1):
        that_day = months_back(period.reporting_day, back, day)
        opened = pl.col("origination_date") <= that_day
        marks.append(pl.when(opened).then(pl.lit(UNKNOWN)).otherwise(pl.lit(NOT_OPEN)))
    return pl.concat_str(marks)


def history_string(
    rows: pl.LazyFrame,
    previous: pl.LazyFrame | None,
    months_since_previous: int,
    period: ReportingPeriod,
    day: str | int,
) -> pl.LazyFrame:
    """Adds repayment_history_24m (oldest to newest) to rows holding repayment_status; previous:
    (loan_id, repayment_history_24m) of the stored report ``months_since_previous`` months
    before, or None."""
    gap = months_since_previous
    if previous is None or not 1 <= gap < HISTORY_MONTHS:
        previous, gap = pl.LazyFrame(schema={"loan_id": pl.String(), "_prev": pl.String()}), 1
    else:
        previous = previous.select("loan_id", pl.col("repayment_history_24m").alias("_prev"))
    carried = pl.col("_prev").str.slice(gap) + pl.lit(UNKNOWN * (gap - 1))
    return (
        rows.join(previous, on="loan_id", how="left")
        .with_columns(
            (pl.coalesce(carried, _filler(period, day)) + pl.col("repayment_status")).alias(
                "repayment_history_24m"
            )
        )
        .drop("_prev")
    )


def credit_report(
    last: pl.LazyFrame,
    payments: pl.LazyFrame,
    previous: tuple[pl.LazyFrame, int] | None,
    period: ReportingPeriod,
    policy: CreditReportPolicy,
) -> pl.LazyFrame:
    """The report's rows from ``last`` (``last_rows`` of the period's loan_aging, loan_state and
    snapshots) and ``payments`` (``payments_due`` of the snapshots from the last processed day
    before the period to the data day); ``previous``: the latest stored report and its months
    before."""
    rows = (
        last.join(payments, on="loan_id", how="left")
        .with_columns(
            pl.col("payment_due_in_period").fill_null(False) | _previous_due(period, policy)
        )
        .with_columns(
            pl.lit(period.reporting_day).alias("snapshot_date"),
            pl.lit(period.month).alias("reporting_month"),
            pl.lit(policy.id_type).alias("id_type"),
            pl.col("outstanding_principal").alias("balance"),
            overdue_periods(policy).alias("overdue_periods"),
            pl.when(pl.col("dpd") > 0).then("first_delinquency_date"),
        )
        .with_columns(repayment_status(policy).alias("repayment_status"))
    )
    frame, months = previous if previous is not None else (None, 0)
    return history_string(rows, frame, months, period, policy.reporting_day).sort("loan_id")
