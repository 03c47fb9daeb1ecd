"""Collections holds and contact window (DESIGN.md §5 "Collections"): CONTACT_CAP from the phone
attempts of the last days (phone channels only, v2), PROMISE_TO_PAY from the latest promise
(dated after the business day, v2), TIMEZONE_UNKNOWN for a zone that is not an IANA zone (v2),
the phone attempts left for the working day, and the 08:00-21:00 local window of the working
day written in UTC. Pure Polars on the contact log
(``contacts`` feed).

Counts whose window is configurable are named after what they count, with the window in its own
column (``phone_attempts_in_window`` over ``phone_attempts_window_days``), so a policy change
cannot make a column name lie (DESIGN.md §9, Collections).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl

from loanrisk.domain.collections import CollectionsPolicy
from loanrisk.domain.timezones import is_known_timezone, known_timezones

UTC = dt.UTC
TIMEZONE_UNKNOWN = "TIMEZONE_UNKNOWN"


def business_day_of(column: str, policy: CollectionsPolicy) -> pl.Expr:
    """The business-time-zone calendar day of a UTC timestamp column."""
    return pl.col(column).dt.convert_time_zone(policy.business_timezone).dt.date()


def window_start(business_date: dt.date, days: int) -> dt.date:
    """First day of the ``days``-day window ending on (and including) ``business_date``."""
    return business_date - dt.timedelta(days=days - 1)


def unique_contacts(contacts: pl.LazyFrame) -> pl.LazyFrame:
    """The contact log read over several days' partitions, one row per contact_id (a contact
    re-sent in a later file counts once)."""
    return contacts.sort("contact_id", "contact_time").unique(
        subset="contact_id", keep="first", maintain_order=True
    )


def phone_attempts(
    contacts: pl.LazyFrame, policy: CollectionsPolicy, business_date: dt.date
) -> pl.LazyFrame:
    """Per borrower, phone attempts (the configured phone_channels, any outcome) whose
    contact_time falls, in the business time zone, in the contact_cap_window_days days ending on
    the business day D (``phone_attempts_in_window``, DESIGN.md §5 Collections, hold CONTACT_CAP),
    and those of them on the window's days that the window ending on D+1 keeps (D minus
    window + 2 .. D, the oldest day dropped: ``_attempts_next_window``)."""
    holds = policy.holds
    day = business_day_of("contact_time", policy)
    first = window_start(business_date, holds.contact_cap_window_days)
    next_first = first + dt.timedelta(days=1)
    return (
        contacts.filter(
            pl.col("channel").is_in(list(holds.phone_channels)),
            day.is_between(first, business_date),
        )
        .group_by("borrower_id")
        .agg(
            pl.len().cast(pl.Int32).alias("phone_attempts_in_window"),
            (day >= next_first).sum().cast(pl.Int32).alias("_attempts_next_window"),
        )
    )


def latest_promise(
    contacts: pl.LazyFrame, policy: CollectionsPolicy, business_date: dt.date
) -> pl.LazyFrame:
    """promise_date of each borrower's latest PROMISE_TO_PAY contact (by contact_time, then
    contact_id) made in the promise_lookback_days days ending on the business day (DESIGN.md §5
    Collections, hold PROMISE_TO_PAY): a newer promise replaces an older one."""
    first = window_start(business_date, policy.holds.promise_lookback_days)
    return (
        contacts.filter(
            pl.col("outcome") == "PROMISE_TO_PAY",
            pl.col("promise_date").is_not_null(),
            business_day_of("contact_time", policy).is_between(first, business_date),
        )
        .sort("borrower_id", "contact_time", "contact_id")
        .group_by("borrower_id", maintain_order=True)
        .agg(pl.col("promise_date").last())
    )


def phone_channel(policy: CollectionsPolicy) -> pl.Expr:
    """The borrower's channel contacts by phone (config holds.phone_channels: VOICE_BOT,
    AGENT_CALL) (DESIGN.md §5 Collections v2: CONTACT_CAP holds only channels that phone)."""
    return pl.col("channel").is_in(list(policy.holds.phone_channels))


def collections_hold(policy: CollectionsPolicy, business_date: dt.date) -> pl.Expr:
    """hold_reason: CONTACT_CAP when the channel phones and phone_attempts_in_window >=
    contact_cap_attempts, else PROMISE_TO_PAY while the latest promise_date > the business day
    (a promise dated D unpaid at D's close is broken: the queue of D, worked on D+1, may
    contact), else null (DESIGN.md §5 Collections v2, holds; the cap is named first when both
    apply)."""
    cap = policy.holds.contact_cap_attempts
    return (
        pl.when(phone_channel(policy) & (pl.col("phone_attempts_in_window") >= cap))
        .then(pl.lit("CONTACT_CAP"))
        .when(pl.col("promise_date") > pl.lit(business_date))
        .then(pl.lit("PROMISE_TO_PAY"))
        .otherwise(pl.lit(None, pl.String))
    )


def phone_attempts_left(policy: CollectionsPolicy) -> pl.Expr:
    """Phone attempts the cap still allows on D+1, the day the queue of D is worked: max(
    contact_cap_attempts - attempts already logged in the cap window ending on D+1 (its days up
    to D: D - window + 2 .. D), 0); null when the channel does not phone (DESIGN.md §5 Collections
    v2: the queue carries phone_attempts_left for the next day). Attempts made on D+1 itself
    count against it as they happen."""
    left = pl.max_horizontal(
        pl.lit(policy.holds.contact_cap_attempts, pl.Int32) - pl.col("_attempts_next_window"),
        pl.lit(0, pl.Int32),
    )
    return pl.when(phone_channel(policy)).then(left).otherwise(pl.lit(None, pl.Int32))


def with_holds(
    queue: pl.LazyFrame, contacts: pl.LazyFrame, policy: CollectionsPolicy, business_date: dt.date
) -> pl.LazyFrame:
    """The queue (with its channel) plus phone_attempts_in_window, phone_attempts_window_days,
    phone_attempts_left, promise_date, hold_reason and contact_allowed."""
    log = unique_contacts(contacts)
    hold = collections_hold(policy, business_date)
    counts = ("phone_attempts_in_window", "_attempts_next_window")
    window = policy.holds.contact_cap_window_days
    return (
        queue.join(phone_attempts(log, policy, business_date), on="borrower_id", how="left")
        .join(latest_promise(log, policy, business_date), on="borrower_id", how="left")
        .with_columns(
            pl.col(counts).fill_null(0),
            pl.lit(window, pl.Int32).alias("phone_attempts_window_days"),
        )
        .with_columns(
            hold.alias("hold_reason"), phone_attempts_left(policy).alias("phone_attempts_left")
        )
        .with_columns(pl.col("hold_reason").is_null().alias("contact_allowed"))
        .drop("_attempts_next_window")
    )


def with_timezone_hold(queue: pl.LazyFrame) -> pl.LazyFrame:
    """hold_reason TIMEZONE_UNKNOWN (and contact_allowed false) for a borrower whose
    borrower_timezone is not a known IANA zone (``loanrisk.domain.timezones``), whatever other
    hold applies: the contact window cannot be known, so the borrower is never contacted on a
    guessed clock (DESIGN.md §4 v2, time zone; §5 Collections, holds). Named before the other
    holds: it is the one that asks for the data to be fixed."""
    known = pl.col("borrower_timezone").is_in(sorted(known_timezones())).fill_null(False)
    return queue.with_columns(
        pl.when(known)
        .then(pl.col("hold_reason"))
        .otherwise(pl.lit(TIMEZONE_UNKNOWN))
        .alias("hold_reason"),
        (pl.col("contact_allowed") & known).alias("contact_allowed"),
    )


def contact_windows(
    zones: list[str | None], policy: CollectionsPolicy, business_date: dt.date
) -> pl.DataFrame:
    """Per distinct borrower_timezone: the contact window (start-end local time on the business
    day + days_after_business_date) as UTC timestamps (DESIGN.md §5 Collections, contact window).
    A zone that is not a known IANA zone has no window (null): its borrower is held
    (``with_timezone_hold``). One row per zone, not per row."""
    window = policy.contact_window
    day = business_date + dt.timedelta(days=window.days_after_business_date)
    rows = []
    for name in [*sorted({z for z in zones if z is not None}), None]:
        ends = [None, None]
        if is_known_timezone(name):
            zone = ZoneInfo(name)
            ends = [
                dt.datetime.combine(day, dt.time.fromisoformat(t), zone).astimezone(UTC)
                for t in (window.start, window.end)
            ]
        rows.append({"borrower_timezone": name, "start": ends[0], "end": ends[1]})
    utc = pl.Datetime("us", "UTC")
    return pl.DataFrame(
        rows, schema={"borrower_timezone": pl.String, "start": utc, "end": utc}
    ).rename({"start": "contact_window_start_utc", "end": "contact_window_end_utc"})


def with_contact_window(
    queue: pl.DataFrame, policy: CollectionsPolicy, business_date: dt.date
) -> pl.DataFrame:
    """The queue with contact_window_start_utc and contact_window_end_utc."""
    zones = queue["borrower_timezone"].unique().to_list()
    windows = contact_windows(zones, policy, business_date)
    return queue.join(windows, on="borrower_timezone", how="left", nulls_equal=True)
