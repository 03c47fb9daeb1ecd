"""Collections holds, DESIGN.md §5 "Collections" v2: a promise dated the
business day is broken at its close, CONTACT_CAP holds phone channels only, the next day's
``phone_attempts_left``, and counts named after what they count with their window recorded.
Every test pins its own small policy (never ``config/``)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import collections_policy

from loanrisk.domain.collections import CHANNELS, CollectionsPolicy
from loanrisk.domain.collections_holds import with_holds

D = dt.date(2026, 10, 29)  # the business day; its queue is worked on D+1
DAY = dt.timedelta(days=1)
PTP = "PROMISE_TO_PAY"


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    """``hour``:00 Shanghai time (UTC+8) on ``day``, as UTC."""
    return dt.datetime.combine(day, dt.time(hour), dt.UTC) - dt.timedelta(hours=8)


def calls(borrower: str, day: dt.date, n: int, channel: str = "AGENT_CALL") -> list[tuple]:
    """``n`` unanswered ``channel`` attempts on ``day`` (10:00 Shanghai)."""
    return [
        (f"{borrower}-{day}-{channel}-{i}", borrower, at(day), channel, "NO_ANSWER", None)
        for i in range(n)
    ]


def log(rows: list[tuple]) -> pl.LazyFrame:
    schema = {"contact_id": pl.String, "borrower_id": pl.String}
    schema |= {"contact_time": pl.Datetime("us", "UTC"), "channel": pl.String}
    schema |= {"outcome": pl.String, "promise_date": pl.Date}
    return pl.LazyFrame(rows, schema=schema, orient="row")


def holds(policy: CollectionsPolicy, queue: dict[str, str], rows: list[tuple]) -> dict[str, dict]:
    """borrower_id -> the hold columns, for a queue of borrower_id -> channel."""
    frame = pl.LazyFrame({"borrower_id": list(queue), "channel": list(queue.values())})
    out = with_holds(frame, log(rows), policy, D).collect()
    return {r.pop("borrower_id"): r for r in out.drop("channel").iter_rows(named=True)}


def test_a_promise_dated_the_business_day_is_broken_at_its_close():
    # given promises made on D-2, dated D-1, D (the business day) and D+1
    made = at(D - 2 * DAY)
    rows = [
        ("P1", "B_PAST", made, "AGENT_CALL", PTP, D - DAY),
        ("P2", "B_TODAY", made, "AGENT_CALL", PTP, D),
        ("P3", "B_TOMORROW", made, "AGENT_CALL", PTP, D + DAY),
    ]
    # when the holds of D are set (the queue is worked on D+1)
    got = holds(
        collections_policy(), dict.fromkeys(["B_PAST", "B_TODAY", "B_TOMORROW"], "SMS"), rows
    )
    # then only the promise dated after D holds; the one dated D was broken at D's close
    assert {b: (r["hold_reason"], r["contact_allowed"]) for b, r in got.items()} == {
        "B_PAST": (None, True),
        "B_TODAY": (None, True),
        "B_TOMORROW": (PTP, False),
    }
    assert got["B_TODAY"]["promise_date"] == D  # still shown, no longer holding


def test_contact_cap_holds_only_borrowers_routed_to_a_phone_channel():
    # given a borrower per channel, each with 7 phone attempts (4 VOICE_BOT, 3 AGENT_CALL) on D
    queue = {f"B_{c}": c for c in CHANNELS}
    rows = [
        row for b in queue for row in calls(b, D, 4, "VOICE_BOT") + calls(b, D, 3, "AGENT_CALL")
    ]
    # when the holds of D are set
    got = holds(collections_policy(cap=7), queue, rows)
    # then the cap holds VOICE_BOT and AGENT_CALL borrowers only; the count is the same for all
    assert {b: r["hold_reason"] for b, r in got.items()} == {
        "B_SMS": None,
        "B_VOICE_BOT": "CONTACT_CAP",
        "B_AGENT_CALL": "CONTACT_CAP",
        "B_LETTER": None,
        "B_FIELD_VISIT": None,
        "B_AGENCY": None,
        "B_LEGAL": None,
    }
    assert {r["phone_attempts_in_window"] for r in got.values()} == {7}


def test_a_letter_borrower_with_a_live_promise_is_still_held_by_the_promise():
    # given a LETTER borrower at the cap with a promise dated D+1
    rows = [*calls("B1", D, 7), ("P1", "B1", at(D), "AGENT_CALL", PTP, D + DAY)]
    # when / then: not CONTACT_CAP (no phone channel), but PROMISE_TO_PAY
    got = holds(collections_policy(), {"B1": "LETTER"}, rows)["B1"]
    assert (got["hold_reason"], got["contact_allowed"]) == (PTP, False)


def test_sms_attempts_are_not_phone_attempts():
    # given 9 SMS and 2 VOICE_BOT attempts on D
    rows = calls("B1", D, 9, "SMS") + calls("B1", D, 2, "VOICE_BOT")
    got = holds(collections_policy(cap=3), {"B1": "VOICE_BOT"}, rows)["B1"]
    # then 2 phone attempts, no cap; 1 left for D+1
    assert (got["phone_attempts_in_window"], got["hold_reason"], got["phone_attempts_left"]) == (
        2,
        None,
        1,
    )


def test_phone_attempts_left_counts_the_window_in_force_on_the_next_day():
    # given cap 7 in a 7-day window: the window of D runs D-6..D, the one of D+1 runs D-5..D+1
    queue = {b: "AGENT_CALL" for b in ("B_MIX", "B_OLDEST", "B_OVER", "B_NONE")}
    queue["B_LETTER"] = "LETTER"
    rows = calls("B_MIX", D - 6 * DAY, 2) + calls("B_MIX", D - 5 * DAY, 3) + calls("B_MIX", D, 1)
    rows += calls("B_OLDEST", D - 6 * DAY, 7)  # all on the day that drops out on D+1
    rows += calls("B_OVER", D - 3 * DAY, 9)
    rows += calls("B_OVER", D - 7 * DAY, 5)  # outside both windows
    rows += calls("B_LETTER", D - DAY, 2)
    # when the holds of D are set
    got = holds(collections_policy(cap=7, window=7), queue, rows)
    cols = ("phone_attempts_in_window", "phone_attempts_left", "hold_reason")
    # then left = max(7 - attempts logged on D-5..D, 0); null for a channel that does not phone
    assert {b: tuple(r[c] for c in cols) for b, r in got.items()} == {
        "B_MIX": (6, 3, None),  # 7 - (3 + 1); the 2 of D-6 drop out
        "B_OLDEST": (7, 7, "CONTACT_CAP"),  # capped on D's window, free again on D+1's
        "B_OVER": (9, 0, "CONTACT_CAP"),  # 7 - 9 floored at 0
        "B_NONE": (0, 7, None),
        "B_LETTER": (2, None, None),
    }
    assert {r["phone_attempts_window_days"] for r in got.values()} == {7}


def test_a_one_day_window_leaves_the_whole_cap_for_the_next_day():
    # given cap 3 in a 1-day window and 3 calls on D
    got = holds(collections_policy(cap=3, window=1), {"B1": "VOICE_BOT"}, calls("B1", D, 3))["B1"]
    # then held on D, and D+1's window (D+1 alone) has nothing logged yet
    assert (got["phone_attempts_in_window"], got["hold_reason"], got["phone_attempts_left"]) == (
        3,
        "CONTACT_CAP",
        3,
    )


def test_the_attempt_count_is_named_for_its_window_whatever_its_length():
    # given a 10-day cap window and calls on D-10 (outside), D-9 (first day) and D
    rows = calls("B1", D - 10 * DAY, 4) + calls("B1", D - 9 * DAY, 2) + calls("B1", D, 1)
    # when the holds of D are set
    got = holds(collections_policy(cap=7, window=10), {"B1": "AGENT_CALL"}, rows)["B1"]
    # then the count carries the window it used; no column is named after 7 days
    assert got["phone_attempts_in_window"] == 3
    assert got["phone_attempts_window_days"] == 10
    assert got["phone_attempts_left"] == 6  # 7 - 1: D+1's window D-8..D+1 drops the 2 of D-9
    assert not any("7d" in name for name in got)


@pytest.mark.parametrize("channel", ["SMS", "LETTER", "AGENCY"])
def test_a_phone_channel_list_naming_a_channel_that_does_not_phone_is_refused(channel):
    base = collections_policy().model_dump(mode="json")
    base["holds"]["phone_channels"] = ["VOICE_BOT", channel]
    with pytest.raises(ValueError, match="phone_channels"):
        CollectionsPolicy.model_validate(base)
