"""Collections queues on hand-built borrowers: every rule at its edge, holds, capacity, agencies,
movements, and one stage run (extract files, PII per channel, formulas, manifest, reruns)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest
from conftest import edited_policy, stage_settings

from loanrisk.domain.collections import (
    CollectionsPolicy,
    classify_borrowers,
    collections_borrowers,
    collections_capacity,
    collections_priority,
    load_collections_policy,
)
from loanrisk.domain.collections_assign import (
    assign_agencies,
    collections_movements,
    continue_episodes,
    empty_previous,
)
from loanrisk.domain.collections_holds import contact_windows, with_holds
from loanrisk.domain.money import MONEY
from loanrisk.errors import ConfigError
from loanrisk.lake.storage import Lake, sha256_file, write_partition
from loanrisk.pipeline.collections_stage import collections_day

DAY = dt.date(2026, 10, 29)
UTC = dt.UTC
AGING = ("snapshot_date", "loan_id", "borrower_id", "account_status", "dpd", "overdue_amount")
AGING += ("episodes_12m", "bankruptcy_flag")
SNAPSHOT = ("loan_id", "origination_date", "deceased_flag", "dispute_flag", "cease_contact_flag")
SNAPSHOT += ("litigation_flag", "borrower_name", "mobile_phone", "national_id", "region_code")
SNAPSHOT += ("borrower_timezone",)


#: The tests' collections policy (DESIGN.md §5 "Collections"), pinned here, not read from config/.
COLLECTIONS = {
    "business_timezone": "Asia/Shanghai",
    "rules": {
        "queue_min_dpd": 1,
        "voice_bot_min_dpd": 4,
        "agent_call_min_dpd": 16,
        "agency_min_dpd": 91,
        "field_visit_min_dpd": 61,
        "field_visit_min_overdue": "30000.00",
        "field_visit_min_episodes_12m": 3,
        "field_visit_on_litigation": True,
        "legal_min_dpd": 181,
    },
    "holds": {
        "contact_cap_attempts": 7,
        "contact_cap_window_days": 7,
        "phone_channels": ["VOICE_BOT", "AGENT_CALL"],
        "promise_lookback_days": 30,
    },
    "priority": {"missing_pd_12m": 1.0},
    "contact_window": {"days_after_business_date": 1, "start": "08:00", "end": "21:00"},
    "channels": [
        {"name": "LETTER", "daily_capacity": 2000, "pii": ["borrower_name", "region_code"]},
        {"name": "SMS", "daily_capacity": 50000, "pii": ["borrower_name", "mobile_phone"]},
        {"name": "VOICE_BOT", "daily_capacity": 20000, "pii": ["borrower_name", "mobile_phone"]},
        {"name": "AGENT_CALL", "daily_capacity": 3000, "pii": ["borrower_name", "mobile_phone"]},
        {
            "name": "AGENCY",
            "daily_capacity": 5000,
            "pii": ["borrower_name", "mobile_phone", "region_code"],
        },
        {"name": "FIELD_VISIT", "daily_capacity": 200, "pii": ["borrower_name", "region_code"]},
        {
            "name": "LEGAL",
            "daily_capacity": 100,
            "pii": ["borrower_name", "national_id", "region_code"],
        },
    ],
    "agencies": [
        {"agency_id": "AGY_NORTH", "weight": 0.5},
        {"agency_id": "AGY_EAST", "weight": 0.3},
        {"agency_id": "AGY_SOUTH", "weight": 0.2},
    ],
}


@pytest.fixture(scope="module")
def cpolicy():
    return CollectionsPolicy.model_validate(COLLECTIONS)


def loan(borrower, loan_id, dpd=1, overdue="100.00", **extra) -> dict:
    row = {
        "snapshot_date": extra.pop("day", DAY),
        "loan_id": loan_id,
        "borrower_id": borrower,
        "account_status": extra.pop("status", "ACTIVE"),
        "dpd": dpd,
        "overdue_amount": Decimal(overdue),
        "episodes_12m": extra.pop("episodes", 1),
        "origination_date": extra.pop("originated", dt.date(2026, 1, 1)),
        "borrower_name": extra.pop("name", f"name {borrower}"),
        "mobile_phone": "13800000000",
        "national_id": "11010519491231002X",
        "region_code": extra.pop("region", "110105"),
        "borrower_timezone": extra.pop("tz", "Asia/Shanghai"),
        "pd_12m": extra.pop("pd", 0.1),
    }
    flags = ("deceased", "bankruptcy", "dispute", "cease_contact", "litigation")
    row.update({f"{f}_flag": extra.pop(f, False) for f in flags})
    assert not extra, extra
    return row


def frames(rows: list[dict]) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """(loan_aging, loan_snapshot, loan_risk) of the rows."""
    df = pl.DataFrame(rows).with_columns(
        pl.col("overdue_amount").cast(MONEY), pl.col("dpd", "episodes_12m").cast(pl.Int32)
    )
    return (
        df.select(AGING).lazy(),
        df.select(SNAPSHOT).lazy(),
        df.select("loan_id", "pd_12m").lazy(),
    )


def classify(policy, *rows) -> pl.DataFrame:
    rules = policy.rules
    borrowers = collections_borrowers(*frames(list(rows)), rules.queue_min_dpd)
    return classify_borrowers(borrowers, rules).collect()


def dispositions(policy, *rows) -> dict[str, str]:
    return dict(classify(policy, *rows).select("borrower_id", "disposition").iter_rows())


def test_channel_at_every_dpd_boundary(cpolicy):
    cases = {0: None, 1: "SMS", 3: "SMS", 4: "VOICE_BOT", 15: "VOICE_BOT", 16: "AGENT_CALL"}
    cases |= {60: "AGENT_CALL", 61: "AGENT_CALL", 90: "AGENT_CALL", 91: "AGENCY"}
    cases |= {180: "AGENCY", 181: "LEGAL"}
    got = dispositions(cpolicy, *(loan(f"B{d:03}", f"L{d}", dpd=d) for d in cases))
    assert got == {f"B{d:03}": c for d, c in cases.items() if c is not None}


def test_field_visit_triggers_at_their_edges(cpolicy):
    got = classify(
        cpolicy,
        loan("B1", "L1", dpd=61, overdue="29999.99"),
        loan("B2", "L2", dpd=61, overdue="30000.00"),
        loan("B3", "L3", dpd=61, episodes=2),
        loan("B4", "L4", dpd=61, episodes=3),
        loan("B5", "L5", dpd=61, litigation=True),
        loan("B6", "L6", dpd=60, overdue="90000.00", episodes=5, litigation=True),
        loan("B7", "L7", dpd=181, overdue="90000.00"),  # LEGAL before FIELD_VISIT
        loan("B8", "L8", dpd=91, overdue="15000.00"),
        loan("B8", "L9", dpd=3, overdue="15000.00"),  # overdue sums across loans
    )
    rows = {r["borrower_id"]: r for r in got.iter_rows(named=True)}
    channel = {b: r["disposition"] for b, r in rows.items()}
    assert channel == {
        "B1": "AGENT_CALL",
        "B2": "FIELD_VISIT",
        "B3": "AGENT_CALL",
        "B4": "FIELD_VISIT",
        "B5": "FIELD_VISIT",
        "B6": "AGENT_CALL",
        "B7": "LEGAL",
        "B8": "FIELD_VISIT",
    }
    assert rows["B2"]["rule"] == "rule 6: borrower_dpd >= 61 and (borrower_overdue >= 30000.00)"
    assert rows["B5"]["rule"] == "rule 6: borrower_dpd >= 61 and (litigation_flag)"
    assert rows["B8"]["borrower_overdue"] == Decimal("30000.00")


def test_flag_precedence_and_a_flag_on_the_second_loan(cpolicy):
    got = dispositions(
        cpolicy,
        loan("B1", "L1", dpd=200, deceased=True, bankruptcy=True, dispute=True, cease_contact=True),
        loan("B2", "L2", dpd=5, bankruptcy=True, dispute=True, cease_contact=True),
        loan("B3", "L3", dpd=5, dispute=True, cease_contact=True),
        loan("B4", "L4", dpd=200, cease_contact=True),
        loan("B5", "L5", dpd=0, deceased=True),  # dpd 0: listed nowhere
        loan("B6", "L6", dpd=0),
        loan("B6", "L7", dpd=2, dispute=True),  # the flag sits on the second loan
        loan("B7", "L8", dpd=200),
        loan("B7", "L9", dpd=0, cease_contact=True, status="CLOSED"),  # closed loans don't count
    )
    assert got == {
        "B1": "DECEASED",
        "B2": "BANKRUPTCY",
        "B3": "DISPUTE",
        "B4": "LETTER",
        "B6": "DISPUTE",
        "B7": "LEGAL",
    }


def test_borrower_consolidates_active_loans(cpolicy):
    got = classify(
        cpolicy,
        loan("B1", "L2", dpd=20, overdue="10.50", pd=0.2, episodes=1, region="310000"),
        loan(
            "B1",
            "L1",
            dpd=3,
            overdue="0.25",
            pd=0.4,
            episodes=2,
            region="440300",
            originated=dt.date(2026, 5, 1),
            tz="Asia/Urumqi",
        ),
        loan("B1", "L3", dpd=400, overdue="999.00", status="WRITTEN_OFF", pd=0.9),
        loan("B1", "L4", dpd=0, overdue="0.00", pd=0.01),  # current, yet one of B1's loans
        loan("B2", "L5", dpd=0, overdue="0.00"),  # no loan past due: not listed
        loan("B2", "L6", dpd=400, overdue="999.00", status="WRITTEN_OFF"),
    )
    assert got["borrower_id"].to_list() == ["B1"]
    got = got.row(0, named=True)
    assert got["loan_ids"] == ["L1", "L2", "L4"] and got["loans"] == 3
    assert (got["borrower_dpd"], got["borrower_overdue"]) == (20, Decimal("10.75"))
    assert (got["pd_12m"], got["episodes_12m"]) == (0.4, 2)
    assert (got["region_code"], got["borrower_timezone"]) == ("440300", "Asia/Urumqi")  # newest
    assert got["disposition"] == "AGENT_CALL"


def test_contact_details_of_the_newest_loan_with_loan_id_breaking_ties(cpolicy):
    same_day = dt.date(2026, 4, 1)
    got = classify(
        cpolicy,
        loan("B1", "L7", region="440300", originated=same_day),
        loan("B1", "L9", region="310000", originated=same_day),
        loan("B1", "L8", region="110105", originated=dt.date(2026, 3, 1)),
    ).row(0, named=True)
    assert got["loan_ids"] == ["L7", "L8", "L9"]
    assert got["region_code"] == "310000"  # L9: same origination day as L7, greater loan_id


def contact(cid, borrower, when, channel="VOICE_BOT", outcome="NO_ANSWER", promise=None):
    return {
        "contact_id": cid,
        "borrower_id": borrower,
        "contact_time": when,
        "channel": channel,
        "outcome": outcome,
        "promise_date": promise,
    }


def contacts_frame(rows) -> pl.LazyFrame:
    schema = {"contact_id": pl.String, "borrower_id": pl.String}
    schema |= {"contact_time": pl.Datetime("us", "UTC"), "channel": pl.String}
    schema |= {"outcome": pl.String, "promise_date": pl.Date}
    return pl.LazyFrame(rows, schema=schema, orient="row")


def holds_of(policy, borrowers, rows, channel="AGENT_CALL") -> dict[str, tuple]:
    queue = pl.LazyFrame({"borrower_id": borrowers, "channel": [channel] * len(borrowers)})
    out = with_holds(queue, contacts_frame(rows), policy, DAY).collect()
    return {
        r["borrower_id"]: (r["phone_attempts_in_window"], r["hold_reason"], r["contact_allowed"])
        for r in out.iter_rows(named=True)
    }


def shanghai(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> dt.datetime:
    """A Shanghai wall-clock time as UTC (UTC+8, no DST)."""
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC) - dt.timedelta(hours=8)


def test_contact_cap_counts_phone_attempts_in_the_7_day_window(cpolicy):
    at = shanghai(DAY, 10)
    six = [contact(f"B6-{i}", "B6", at, "AGENT_CALL" if i % 2 else "VOICE_BOT") for i in range(6)]
    seven = [contact(f"B7-{i}", "B7", at) for i in range(7)]
    sms = [contact(f"BS-{i}", "BS", at, "SMS") for i in range(10)]  # not phone attempts
    first, before = DAY - dt.timedelta(days=6), DAY - dt.timedelta(days=7)
    edges = [contact(f"BE-{i}", "BE", at) for i in range(4)]
    edges += [
        contact("BE-first", "BE", shanghai(first, 0)),  # 00:00 Shanghai on D-6: inside
        contact("BE-last", "BE", shanghai(DAY, 23, 59, 59)),  # end of D: inside
        contact("BE-before", "BE", shanghai(before, 23, 59, 59)),  # D-7: outside
        contact("BE-after", "BE", shanghai(DAY + dt.timedelta(days=1), 0)),  # D+1: outside
        contact("BE-first", "BE", shanghai(first, 0)),  # re-sent in a later file: counts once
    ]
    got = holds_of(cpolicy, ["B6", "B7", "BS", "BE", "B0"], six + seven + sms + edges)
    assert got["B6"] == (6, None, True)
    assert got["B7"] == (7, "CONTACT_CAP", False)
    assert got["BS"] == (0, None, True) and got["B0"] == (0, None, True)
    assert got["BE"] == (6, None, True)


def test_promise_to_pay_hold_uses_the_latest_promise(cpolicy):
    d = dt.timedelta(days=1)
    ptp = "PROMISE_TO_PAY"
    rows = [
        contact("P1", "B1", shanghai(DAY, 9), "AGENT_CALL", ptp, DAY),  # broken at D's close (v2)
        contact("P2", "B2", shanghai(DAY, 9), "AGENT_CALL", ptp, DAY - d),  # already broken
        contact("P3a", "B3", shanghai(DAY - 5 * d, 9), "SMS", ptp, DAY + 9 * d),
        contact("P3b", "B3", shanghai(DAY - d, 9), "AGENT_CALL", ptp, DAY - d),  # newer: wins
        contact("P4", "B4", shanghai(DAY - 29 * d, 9), "LETTER", ptp, DAY + d),  # oldest day kept
        contact("P5", "B5", shanghai(DAY - 30 * d, 9), "LETTER", ptp, DAY + d),  # beyond look-back
        *(contact(f"C{i}", "B6", shanghai(DAY, 9)) for i in range(7)),
        contact("P6", "B6", shanghai(DAY, 9), "AGENT_CALL", ptp, DAY + d),
    ]
    got = holds_of(cpolicy, ["B1", "B2", "B3", "B4", "B5", "B6"], rows)
    reasons = {b: v[1] for b, v in got.items()}
    assert reasons == {
        "B1": None,
        "B2": None,
        "B3": None,
        "B4": "PROMISE_TO_PAY",
        "B5": None,
        "B6": "CONTACT_CAP",  # both apply: the cap is named
    }


def test_contact_window_is_08_to_21_local_on_the_next_day_in_utc(cpolicy):
    got = contact_windows(["Asia/Shanghai", "America/New_York", "Not/AZone"], cpolicy, DAY)
    windows = {r[0]: (r[1], r[2]) for r in got.iter_rows()}
    next_day = DAY + dt.timedelta(days=1)  # 2026-10-30, New York still on EDT (UTC-4)
    at = lambda h: dt.datetime.combine(next_day, dt.time(h), UTC)  # noqa: E731
    assert windows["Asia/Shanghai"] == (at(0), at(13))
    assert windows["America/New_York"] == (at(12), dt.datetime(2026, 10, 31, 1, tzinfo=UTC))
    assert windows["Not/AZone"] == windows[None] == (None, None)  # no guessed clock (held)
    winter = contact_windows(["America/New_York"], cpolicy, dt.date(2026, 12, 1))
    assert winter.row(0)[1] == dt.datetime(2026, 12, 2, 13, tzinfo=UTC)  # EST, UTC-5


def work_queue(policy, rows: list[dict], holds: dict[str, str] | None = None) -> pl.DataFrame:
    holds = holds or {}
    frame = pl.DataFrame(rows).with_columns(
        pl.col("borrower_overdue").cast(MONEY),
        pl.col("borrower_id").replace_strict(holds, default=None).alias("hold_reason"),
    )
    frame = frame.with_columns(
        pl.col("hold_reason").is_null().alias("contact_allowed"),
        collections_priority(policy.priority).alias("priority"),
    )
    return collections_capacity(frame, policy)


def test_priority_is_expected_loss_and_held_borrowers_take_no_capacity(cpolicy):
    policy = cpolicy.model_copy(
        update={
            "channels": tuple(c.model_copy(update={"daily_capacity": 2}) for c in cpolicy.channels)
        }
    )
    rows = [
        {"borrower_id": "B1", "channel": "SMS", "pd_12m": 0.5, "borrower_overdue": "100.00"},
        {"borrower_id": "B2", "channel": "SMS", "pd_12m": 0.1, "borrower_overdue": "500.00"},
        {"borrower_id": "B3", "channel": "SMS", "pd_12m": 0.125, "borrower_overdue": "400.00"},
        {"borrower_id": "B4", "channel": "SMS", "pd_12m": None, "borrower_overdue": "20.00"},
        {"borrower_id": "B5", "channel": "SMS", "pd_12m": 0.01, "borrower_overdue": "100.00"},
        {"borrower_id": "B6", "channel": "LEGAL", "pd_12m": 0.9, "borrower_overdue": "1.00"},
    ]
    out = work_queue(policy, rows, {"B1": "CONTACT_CAP"})
    sms = out.filter(pl.col("channel") == "SMS")
    # B1, B2, B3 tie at 50.00: borrower_id decides; B4 has no PD: missing_pd_12m (1.0) -> 20.00
    assert sms["borrower_id"].to_list() == ["B1", "B2", "B3", "B4", "B5"]
    assert sms["priority"].to_list() == [Decimal(x) for x in ("50", "50", "50", "20", "1")]
    assert sms["priority_rank"].to_list() == [1, 2, 3, 4, 5]
    assert sms["within_capacity"].to_list() == [False, True, True, False, False]  # held B1
    assert out.filter(pl.col("channel") == "LEGAL")["priority_rank"].to_list() == [1]


def agency_queue(policy, rows, previous=None) -> dict[str, tuple]:
    frame = pl.DataFrame(
        rows,
        schema={"borrower_id": pl.String, "channel": pl.String, "priority": MONEY},
        orient="row",
    )
    previous = empty_previous() if previous is None else previous
    out = assign_agencies(continue_episodes(frame, previous, policy, DAY), policy)
    return {
        r["borrower_id"]: (r["agency"], r["episode_agency"], r["episode_start_date"])
        for r in out.iter_rows(named=True)
    }


def test_new_agency_borrowers_are_shared_by_weight_in_priority_order(cpolicy):
    rows = [(f"B{i:02}", "AGENCY", Decimal(1000 - i)) for i in range(10)]
    got = agency_queue(cpolicy, [*rows, ("S1", "SMS", Decimal(5))])
    agencies = [got[f"B{i:02}"][0] for i in range(10)]
    assert {a: agencies.count(a) for a in set(agencies)} == {
        "AGY_NORTH": 5,
        "AGY_EAST": 3,
        "AGY_SOUTH": 2,
    }
    assert agencies[:3] == ["AGY_NORTH", "AGY_EAST", "AGY_SOUTH"]  # highest priority first
    assert got["S1"] == (None, None, DAY)
    assert agency_queue(cpolicy, list(reversed(rows))) == {k: got[k] for k in got if k != "S1"}


def test_agency_is_sticky_for_the_episode(cpolicy):
    start = DAY - dt.timedelta(days=40)
    previous = pl.DataFrame(
        {
            "borrower_id": ["K1", "K2", "K3", "K4"],
            "channel": ["AGENCY", "FIELD_VISIT", "AGENCY", "AGENT_CALL"],
            "loan_ids": [["L"]] * 4,
            "episode_start_date": [start] * 4,
            "episode_agency": ["AGY_SOUTH", "AGY_SOUTH", "AGY_GONE", None],
        },
        schema=empty_previous().schema,
    )
    rows = [
        ("K1", "AGENCY", Decimal(9)),  # stays with its agency
        ("K2", "AGENCY", Decimal(8)),  # back from a field visit: same episode, same agency
        ("K3", "AGENCY", Decimal(7)),  # its agency left the config: a new one
        ("K4", "AGENCY", Decimal(6)),  # first time in AGENCY this episode
        ("N1", "AGENCY", Decimal(5)),  # not in the previous queue: new episode
    ]
    got = agency_queue(cpolicy, rows, previous)
    assert got["K1"] == ("AGY_SOUTH", "AGY_SOUTH", start)
    assert got["K2"] == ("AGY_SOUTH", "AGY_SOUTH", start)
    # loads NORTH 0, EAST 0, SOUTH 2: the three new ones go NORTH, EAST, NORTH
    assert [got[b][0] for b in ("K3", "K4", "N1")] == ["AGY_NORTH", "AGY_EAST", "AGY_NORTH"]
    assert got["N1"][2] == DAY and got["K3"][2] == start
    later = agency_queue(cpolicy, [("K1", "AGENT_CALL", Decimal(9))], previous)
    assert later["K1"] == (None, "AGY_SOUTH", start)  # kept through a day in another channel


def test_movements_per_channel(cpolicy):
    previous = pl.DataFrame(
        {
            "borrower_id": ["S", "E", "D", "C", "X1", "X2", "X3"],
            "channel": ["SMS", "SMS", "AGENCY", "VOICE_BOT", "SMS", "SMS", "LEGAL"],
            "loan_ids": [["LS"], ["LE"], ["LD"], ["LC"], ["LX1"], ["LX2"], ["LX3"]],
            "episode_start_date": [DAY] * 7,
            "episode_agency": [None] * 7,
        },
        schema=empty_previous().schema,
    )
    queue = pl.DataFrame(
        {"borrower_id": ["S", "E", "D", "N"], "channel": ["SMS", "VOICE_BOT", "AGENT_CALL", "SMS"]}
    )
    suppressed = pl.DataFrame({"borrower_id": ["X1"]})
    loans = pl.DataFrame(
        {
            "loan_id": ["LS", "LE", "LD", "LC", "LX1", "LX3", "LN"],
            "borrower_id": ["S", "E", "D", "C", "X1", "X3", "N"],
            "account_status": ["ACTIVE"] * 4 + ["ACTIVE", "WRITTEN_OFF", "ACTIVE"],
        }
    )
    got = collections_movements(queue, previous, suppressed, loans, cpolicy)
    rows = {r.pop("channel"): r for r in got.to_dicts()}
    assert rows["SMS"] == dict(
        borrowers_previous=4,
        stayed=1,
        new=1,
        escalated_in=0,
        de_escalated_in=0,
        escalated_out=1,
        de_escalated_out=0,
        cured=0,
        exited=2,
        borrowers=2,
    )  # X1 suppressed, X2 absent from the day's loans
    assert rows["VOICE_BOT"]["escalated_in"] == 1 and rows["VOICE_BOT"]["cured"] == 1
    assert rows["AGENCY"]["de_escalated_out"] == 1 and rows["AGENT_CALL"]["de_escalated_in"] == 1
    assert rows["LEGAL"]["exited"] == 1  # written off
    for r in rows.values():
        assert r["borrowers"] == r["stayed"] + r["new"] + r["escalated_in"] + r["de_escalated_in"]
        out = r["escalated_out"] + r["de_escalated_out"] + r["cured"] + r["exited"]
        assert r["borrowers_previous"] == r["stayed"] + out
    assert got["channel"].to_list() == sorted(rows)


def test_policy_errors_name_the_key(tmp_path, cpolicy):
    def edited(edit):
        return edited_policy(tmp_path, "collections.yaml", COLLECTIONS, edit)

    assert load_collections_policy(edited(lambda d: None)) == cpolicy  # as pinned, it loads
    with pytest.raises(ConfigError, match=r"channels.1: .*national_id may only go to LEGAL"):
        load_collections_policy(edited(lambda d: d["channels"][1].update(pii=["national_id"])))
    with pytest.raises(ConfigError, match=r"rules: .*agent_call_min_dpd < agency_min_dpd"):
        load_collections_policy(edited(lambda d: d["rules"].update(agency_min_dpd=9)))
    with pytest.raises(ConfigError, match=r"contact_window.end: .*HH:MM"):
        load_collections_policy(edited(lambda d: d["contact_window"].update(end="25:00")))


def stage_day(lake: Lake, day: dt.date, rows: list[dict], contacts: list[dict] | None) -> None:
    aging, snapshot, risk = (f.collect() for f in frames(rows))
    for zone, table, frame in (
        ("curated", "loan_aging", aging.with_columns(pl.lit(day).alias("snapshot_date"))),
        ("raw", "loan_snapshot", snapshot),
        ("curated", "loan_risk", risk),
    ):
        write_partition(frame, lake.partition(zone, table, day), lake.scratch)
    if contacts is not None:
        log = contacts_frame(contacts).collect()
        write_partition(log, lake.partition("raw", "contacts", day), lake.scratch)


def book(dpd_shift: int) -> list[dict]:
    s = dpd_shift
    return [
        loan("B01", "L01", dpd=2 + s, name='=HYPERLINK("http://x")'),
        loan("B02", "L02", dpd=10 + s, overdue="250.00", name="-2+3"),
        loan("B03", "L03", dpd=30 + s, overdue="1200.50"),
        loan("B03", "L04", dpd=0, overdue="0.00", status="CLOSED"),
        loan("B04", "L05", dpd=100 + s, overdue="8000.00", pd=0.3),
        loan("B05", "L06", dpd=100 + s, overdue="9000.00", pd=0.3),
        loan("B06", "L07", dpd=70 + s, overdue="31000.00"),
        loan("B07", "L08", dpd=200 + s, overdue="5000.00"),
        loan("B08", "L09", dpd=12, cease_contact=True),
        loan("B09", "L10", dpd=40, dispute=True),
        loan("B10", "L11", dpd=0, overdue="0.00"),
    ]


def extract_files(lake: Lake, day: dt.date) -> dict[str, bytes]:
    folder = lake.extract_dir("collections", day)
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_stage_writes_reconciled_extracts_with_only_each_channels_pii(tmp_path, cpolicy):
    settings = stage_settings(tmp_path / "data")
    lake = Lake(settings.data_root, settings.landing_dir)
    before = DAY - dt.timedelta(days=1)
    stage_day(lake, before, book(0), None)  # no contact log that day
    calls = [contact(f"C{i}", "B03", shanghai(DAY, 9), "AGENT_CALL") for i in range(7)]
    stage_day(lake, DAY, book(1), calls)
    first = collections_day(lake, settings, cpolicy, before)
    report = collections_day(lake, settings, cpolicy, DAY)
    assert first["previous_date"] is None and report["previous_date"] == before.isoformat()
    assert (report["rows_out"], report["suppressed"]) == (8, 1)

    folder = lake.extract_dir("collections", DAY)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        f"extracts/collections/{DAY}/{p.name}": sha256_file(p)
        for p in folder.iterdir()
        if p.name != "manifest.json"
    }
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())
    totals, listed, total = manifest["control_totals"], [], Decimal("0")
    for channel in cpolicy.channel_order:
        csv = pl.read_csv(folder / f"{channel}.csv", infer_schema=False)
        pii = {"borrower_name", "mobile_phone", "national_id", "region_code"} & set(csv.columns)
        assert pii == set(cpolicy.channel(channel).pii)
        assert ("agency" in csv.columns) == (channel == "AGENCY")
        overdue = sum((Decimal(x) for x in csv["borrower_overdue"]), Decimal("0"))
        expected = (
            totals["channels"][channel]["borrowers"],
            totals["channels"][channel]["borrower_overdue"],
        )
        assert (csv.height, f"{overdue:.2f}") == expected
        listed += [i for ids in csv["loan_ids"] for i in ids.split(",")]
        total += overdue
    suppressed = pl.read_csv(folder / "suppressed.csv", infer_schema=False)
    assert suppressed.rows() == [
        (str(DAY), "B09", "DISPUTE", "rule 3: dispute_flag", "40", "100.00", "1", "L10")
    ]
    listed += ["L10"]
    total += Decimal("100.00")
    aging = pl.read_parquet(lake.partition_file("curated", "loan_aging", DAY))
    source = aging.filter(pl.col("account_status") == "ACTIVE", pl.col("dpd") > 0)
    assert sorted(listed) == source["loan_id"].sort().to_list()
    assert total == source["overdue_amount"].sum()
    assert totals["reconciliation"]["listed_overdue"] == str(total)

    texts = {p.stem: p.read_text() for p in folder.glob("*.csv")}
    assert "'=HYPERLINK" in texts["SMS"] and "'-2+3" in texts["VOICE_BOT"]
    raw = pl.read_parquet(folder / "SMS.parquet")
    assert raw.filter(pl.col("borrower_id") == "B01")["borrower_name"][0].startswith("=HYPER")
    holders = sorted(name for name, text in texts.items() if "11010519491231002X" in text)
    assert holders == ["LEGAL"]

    queue = pl.read_parquet(lake.partition_file("curated", "collections_queue", DAY))
    b03 = queue.filter(pl.col("borrower_id") == "B03")
    assert b03.select(
        "hold_reason",
        "phone_attempts_in_window",
        "phone_attempts_window_days",
        "phone_attempts_left",
    ).rows() == [("CONTACT_CAP", 7, 7, 0)]
    agent_calls = pl.read_csv(folder / "AGENT_CALL.csv", infer_schema=False)
    assert agent_calls.filter(pl.col("borrower_id") == "B03")["phone_attempts_left"][0] == "0"
    agencies = [
        pl.read_parquet(lake.partition_file("curated", "collections_queue", d))
        .filter(pl.col("channel") == "AGENCY")
        .select("borrower_id", "agency")
        for d in (before, DAY)
    ]
    assert agencies[0].rows() == agencies[1].rows() and agencies[1].height == 2
    assert totals["movements"]["AGENCY"]["stayed"] == 2

    written = extract_files(lake, DAY)
    curated = {
        t: sha256_file(lake.partition_file("curated", t, DAY))
        for t in ("collections_queue", "collections_suppressed", "collections_movements")
    }
    collections_day(lake, settings, cpolicy, DAY)  # rerun: the same bytes
    assert extract_files(lake, DAY) == written
    assert curated == {t: sha256_file(lake.partition_file("curated", t, DAY)) for t in curated}
