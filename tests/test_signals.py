"""Monitoring signals from the events feed: each rule at its threshold edges on hand-built event
streams, the daily aggregate and its windows through the stage, and config errors."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import CONTRACTS, write_policy

from loanrisk.domain import signal_windows as w
from loanrisk.domain import signals as s
from loanrisk.errors import ConfigError
from loanrisk.lake.storage import Lake, write_partition
from loanrisk.pipeline.signals_stage import signals_day
from loanrisk.quality.contracts import load_contract

D = dt.date(2026, 6, 30)
UTC = dt.UTC
#: The tests' signal policy (DESIGN.md §5), pinned here, not read from config/.
SIGNALS = {
    "login_failure_burst": {"min_failures": 5, "window_hours": 24},
    "new_device": {"lookback_days": 90},
    "out_of_province_login": {"min_logins": 1},
    "transaction_spike": {
        "window_days": 7,
        "baseline_days": 30,
        "min_ratio": 3.0,
        "min_count": 10,
    },
    "fund_flow_mismatch": {
        "pre_due_days": 7,
        "min_ratio": 3.0,
        "min_outflow_amount": "3000.00",
        "watch_days_after_due": 30,
    },
    "cash_out_after_disbursement": {
        "days_after_disbursement": 3,
        "min_share_of_principal": 0.5,
    },
}
POLICY = s.SignalPolicy.model_validate(SIGNALS)
EVENTS_SCHEMA = {
    "event_id": pl.String,
    "borrower_id": pl.String,
    "event_time": pl.Datetime("us", "UTC"),
    "event_type": pl.String,
    "amount": pl.Decimal(18, 2),
    "device_id": pl.String,
    "ip_region": pl.String,
}


def at(day: dt.date, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def ev(who, when, kind, amount=None, device="D1", ip=None) -> dict:
    money = None if amount is None else Decimal(amount)
    return dict(
        borrower_id=who,
        event_time=when,
        event_type=kind,
        amount=money,
        device_id=device,
        ip_region=ip,
    )


def events(rows: list[dict]) -> pl.LazyFrame:
    ids = [{"event_id": f"E{i:06d}", **r} for i, r in enumerate(rows)]
    return pl.DataFrame(ids, schema=EVENTS_SCHEMA, orient="row").lazy()


def daily(rows: list[dict]) -> pl.LazyFrame:
    """Daily aggregates of events spread over days (the day = event_time's UTC date here)."""
    by_day: dict[dt.date, list[dict]] = {}
    for row in rows:
        by_day.setdefault(row["event_time"].date(), []).append(row)
    frames = [s.daily_aggregate(events(r), day).collect() for day, r in sorted(by_day.items())]
    return pl.concat(frames).lazy()


def loans(*rows: dict) -> pl.LazyFrame:
    base = {
        "loan_id": "L1",
        "borrower_id": "B1",
        "region_code": "310101",
        "origination_date": D - dt.timedelta(days=200),
        "principal_amount": Decimal("10000.00"),
        "account_status": "ACTIVE",
        "oldest_unpaid_due_date": None,
        "overdue_principal": Decimal("0.00"),
        "overdue_interest": Decimal("0.00"),
        "overdue_fees": Decimal("0.00"),
    }
    schema = {k: (pl.Decimal(18, 2) if isinstance(v, Decimal) else None) for k, v in base.items()}
    schema = {**schema, "oldest_unpaid_due_date": pl.Date, "origination_date": pl.Date}
    frame = pl.DataFrame([{**base, **r} for r in (rows or ({},))])
    return frame.cast({k: v for k, v in schema.items() if v is not None}).lazy()


def value(frame: pl.LazyFrame, who: str = "B1") -> int:
    out = frame.collect()
    assert out.columns[0] == "borrower_id" and out.columns[1].startswith("signal_")
    found = out.filter(pl.col("borrower_id") == who)
    return int(found.item(0, 1)) if found.height else 0


# --- abnormal login: failure burst ---------------------------------------------------------------


def burst(times: list[dt.datetime]) -> int:
    rows = pl.DataFrame(
        {
            "borrower_id": "B1",
            "event_time": times,
            "event_type": "LOGIN_FAILURE",
            "snapshot_date": [t.date() for t in times],
        },
        schema_overrides={"event_time": pl.Datetime("us", "UTC")},
    )
    return value(s.login_failure_burst(rows.lazy(), D, POLICY.login_failure_burst))


def test_burst_fires_at_the_threshold_not_one_below():
    assert burst([at(D, 10, m) for m in range(5)]) == 5
    assert burst([at(D, 10, m) for m in range(4)]) == 0
    assert burst([at(D, 10, m) for m in range(7)]) == 7


def test_burst_window_is_24_hours_open_at_its_start():
    yesterday = D - dt.timedelta(days=1)
    inside = [at(yesterday, 10, 3, 1)] + [at(D, 10, m) for m in range(4)]
    assert burst(inside) == 5  # 23:59:59 before the last failure: one window
    boundary = [at(yesterday, 10, 3)] + [at(D, 10, m) for m in range(4)]
    assert burst(boundary) == 0  # exactly 24 h before the last: outside (t - 24 h, t]
    assert burst([at(yesterday, 10, m) for m in range(6)]) == 0  # a burst of yesterday only


# --- abnormal login: new device -----------------------------------------------------------------


def new_device(rows: list[dict]) -> int:
    frame = daily(rows)
    today = frame.filter(pl.col("snapshot_date") == D)
    lookback = s.device_history(frame.filter(pl.col("snapshot_date") < D))
    return value(s.new_device(today, lookback, D, POLICY.new_device))


def test_device_seen_90_days_ago_is_known_91_is_new():
    today = ev("B1", at(D), "LOGIN_SUCCESS", device="OLD")
    other = ev("B1", at(D - dt.timedelta(days=10)), "LOGIN_SUCCESS", device="HOME")
    seen_90 = ev("B1", at(D - dt.timedelta(days=90)), "LOGIN_SUCCESS", device="OLD")
    seen_91 = ev("B1", at(D - dt.timedelta(days=91)), "LOGIN_SUCCESS", device="OLD")
    assert new_device([seen_90, other, today]) == 0
    assert new_device([seen_91, other, today]) == 1
    assert new_device([seen_90, today]) == 0


def test_new_device_needs_a_baseline_and_ignores_failed_logins():
    today = ev("B1", at(D), "LOGIN_SUCCESS", device="NEW")
    assert new_device([today]) == 0  # no device history: no baseline
    home = ev("B1", at(D - dt.timedelta(days=1)), "PURCHASE", "5.00", device="HOME")
    attacker = ev("B1", at(D), "LOGIN_FAILURE", device="EVIL")
    assert new_device([home, attacker]) == 0
    second = ev("B1", at(D, 13), "TRANSFER_OUT", "5.00", device="NEW2")
    assert new_device([home, today, second, ev("B1", at(D, 14), "LOGIN_SUCCESS")]) == 3


def test_devices_carried_to_the_next_day_are_those_of_its_lookback():
    def seen(back: int, device: str) -> dict:
        return ev("B1", at(D - dt.timedelta(days=back)), "LOGIN_SUCCESS", device=device)

    rows = [seen(90, "DROPPED"), seen(89, "KEPT"), seen(40, "AGAIN"), seen(3, "AGAIN")]
    rows += [ev("B2", at(D), "LOGIN_SUCCESS", device="TODAY"), seen(0, "KEPT")]
    frame = daily(rows)
    lookback = s.device_history(frame.filter(pl.col("snapshot_date") < D))
    today = frame.filter(pl.col("snapshot_date") == D)
    carried = s.devices_through(lookback, today, D, POLICY.new_device).collect()
    assert carried.rows() == [
        ("B1", "AGAIN", D - dt.timedelta(days=3)),
        ("B1", "KEPT", D),
        ("B2", "TODAY", D),
    ]
    # The next day's signal from the carried devices equals one from its whole window.
    tomorrow = D + dt.timedelta(days=1)
    next_rows = [ev("B1", at(tomorrow), "LOGIN_SUCCESS", device=d) for d in ("DROPPED", "KEPT")]
    window = daily(rows + next_rows)
    next_day = window.filter(pl.col("snapshot_date") == tomorrow)
    from_window = s.device_history(window.filter(pl.col("snapshot_date") < tomorrow))
    for lookback in (carried.lazy(), from_window):
        assert value(s.new_device(next_day, lookback, tomorrow, POLICY.new_device)) == 1


# --- abnormal login: out of province -------------------------------------------------------------


def test_out_of_province_compares_the_first_two_digits():
    rows = [
        ev("B1", at(D, 9), "LOGIN_SUCCESS", ip="310115"),  # same province, other district
        ev("B1", at(D, 10), "LOGIN_FAILURE", ip="440305"),
        ev("B1", at(D, 11), "LOGIN_SUCCESS", ip="440305"),
        ev("B1", at(D, 12), "LOGIN_SUCCESS", ip=None),
        ev("B1", at(D, 13), "PURCHASE", "9.00", ip="440305"),  # not a login
        ev("B2", at(D, 13), "LOGIN_SUCCESS", ip="310101"),
    ]
    book = loans(
        {"borrower_id": "B1"}, {"loan_id": "L2", "borrower_id": "B2", "region_code": "440101"}
    )
    out = s.out_of_province_login(events(rows), book, POLICY.out_of_province_login)
    assert value(out, "B1") == 2 and value(out, "B2") == 1
    home = s.out_of_province_login(events(rows[:1]), book, POLICY.out_of_province_login)
    assert value(home, "B1") == 0


# --- transaction spike ---------------------------------------------------------------------------


def spike(recent: int, baseline: int) -> int:
    rows = [ev("B1", at(D - dt.timedelta(days=i % 7)), "PURCHASE", "1.00") for i in range(recent)]
    rows += [
        ev("B1", at(D - dt.timedelta(days=7 + i % 30)), "TRANSFER_IN", "1.00")
        for i in range(baseline)
    ]
    return value(spiked(daily(rows)))


def spiked(days: pl.LazyFrame) -> pl.LazyFrame:
    rule = POLICY.transaction_spike
    return w.transaction_spike(w.transaction_windows(days, D, rule), rule)


def test_spike_fires_at_the_ratio_edge():
    # expected 7-day count from 60 in 30 days = 14; x3 = 42
    assert spike(42, 60) == 42
    assert spike(41, 60) == 0


def test_spike_needs_the_minimum_volume():
    assert spike(10, 0) == 10
    assert spike(9, 0) == 0
    assert spike(10, 30) == 0  # enough volume, but expected 7 x 3 = 21
    assert spike(21, 30) == 21


def test_spike_window_edges():
    old = [ev("B1", at(D - dt.timedelta(days=37)), "PURCHASE", "1.00")] * 100  # before baseline
    recent = [ev("B1", at(D - dt.timedelta(days=6)), "PURCHASE", "1.00")] * 10
    assert value(spiked(daily(old + recent))) == 10
    base = [ev("B1", at(D - dt.timedelta(days=36)), "PURCHASE", "1.00")] * 100
    assert value(spiked(daily(base + recent))) == 0


def test_transaction_windows_moved_day_by_day_equal_their_rebuild():
    rule, first = POLICY.transaction_spike, D - dt.timedelta(days=60)
    seed = [(i * 7919) % 13 for i in range(61 * 3)]  # uneven counts, some days without any
    kinds = ("PURCHASE", "TRANSFER_IN", "LOGIN_SUCCESS")
    rows = [
        ev(f"B{b}", at(first + dt.timedelta(days=d)), kinds[(d + b) % 3], "1.00")
        for d in range(61)
        for b in range(3)
        for _ in range(seed[d * 3 + b] if (d + b) % 5 else 0)
    ]
    days = daily(rows).collect()
    windows = w.transaction_windows(days.lazy(), first, rule).collect()
    for back in range(59, -1, -1):
        day = D - dt.timedelta(days=back)
        windows = w.roll_transaction_windows(windows.lazy(), days.lazy(), day, rule).collect()
        assert windows.equals(w.transaction_windows(days.lazy(), day, rule).collect()), day
    assert windows.height == 3 and windows["baseline_transactions"].min() > 0


# --- fund-flow mismatch --------------------------------------------------------------------------

DUE = D - dt.timedelta(days=5)
UNPAID = {
    "oldest_unpaid_due_date": DUE,
    "overdue_principal": Decimal("800.00"),
    "overdue_interest": Decimal("20.00"),
}


def flows(out_day: int, outflow: str, inflow: str, due: dt.date = DUE, **loan) -> int:
    rows = [
        ev("B1", at(due - dt.timedelta(days=out_day)), "CASH_WITHDRAWAL", outflow),
        ev("B1", at(due - dt.timedelta(days=3)), "TRANSFER_IN", inflow),
    ]
    book = loans({**UNPAID, "oldest_unpaid_due_date": due, **loan})
    rule = POLICY.fund_flow_mismatch
    missed = w.missed_due_dates(book, D, rule).collect()
    return value(w.fund_flow_mismatch(w.pre_due_flows(missed, daily(rows), rule), rule))


def test_fund_flow_fires_on_an_unpaid_due_date_not_a_paid_one():
    assert flows(2, "3000.00", "1000.00") == 1
    paid = {"oldest_unpaid_due_date": None, "overdue_principal": Decimal("0.00")}
    assert flows(2, "3000.00", "1000.00", **paid) == 0
    zero_overdue = {"overdue_principal": Decimal("0.00"), "overdue_interest": Decimal("0.00")}
    assert flows(2, "3000.00", "1000.00", **zero_overdue) == 0


def test_fund_flow_ratio_amount_and_window_edges():
    assert flows(2, "6000.00", "2000.00") == 1  # exactly 3 x the inflow
    assert flows(2, "6000.00", "2000.01") == 0  # ratio just below 3
    assert flows(2, "2999.99", "0.00") == 0  # below the minimum outflow
    assert flows(2, "3000.00", "0.00") == 1  # any outflow beats zero inflow
    assert flows(7, "3000.00", "1000.00") == 1  # 7 days before the due date
    assert flows(8, "3000.00", "1000.00") == 0
    assert flows(0, "3000.00", "1000.00") == 0  # on the due date itself
    assert flows(2, "3000.00", "1000.00", due=D - dt.timedelta(days=30)) == 1
    assert flows(2, "3000.00", "1000.00", due=D - dt.timedelta(days=31)) == 0  # too long ago


def test_pre_due_flows_moved_on_from_the_previous_day_equal_their_rebuild():
    rule, yesterday = POLICY.fund_flow_mismatch, D - dt.timedelta(days=1)
    ago = [D - dt.timedelta(days=k) for k in range(40)]
    rows = [
        ev(who, at(ago[k]), "CASH_WITHDRAWAL", f"{100 * k}.00")
        for who in ("B1", "B2")
        for k in range(1, 40)
    ]
    rows += [ev("B2", at(ago[k]), "TRANSFER_IN", f"{10 * k}.00") for k in range(1, 40, 2)]
    days = daily(rows)

    def missed(day: dt.date, *dues: dt.date) -> pl.DataFrame:
        book = loans(
            *(
                {**UNPAID, "loan_id": f"L{i}", "borrower_id": f"B{1 + i % 2}",
                 "oldest_unpaid_due_date": due}
                for i, due in enumerate(dues)
            )
        )  # fmt: skip
        return w.missed_due_dates(book, day, rule).collect()

    before = w.pre_due_flows(missed(yesterday, ago[10], ago[20], ago[31]), days, rule).collect()
    # L0 still unpaid, L1 paid one instalment (a later due date), L2's due date left the watch
    # window, L3 is new.
    today = missed(D, ago[10], ago[15], ago[31], ago[0])
    assert today["loan_id"].to_list() == ["L0", "L1", "L3"]
    moved = w.carry_pre_due_flows(today, before, days, rule).collect()
    assert moved.equals(w.pre_due_flows(today, days, rule).collect())
    assert moved.filter(pl.col("loan_id") == "L0").row(0) == before.row(0)
    assert moved["outflow_amount"].to_list() == [
        Decimal(sum(100 * k for k in range(11, 18))),
        Decimal(sum(100 * k for k in range(16, 23))),
        Decimal(sum(100 * k for k in range(1, 8))),
    ]


# --- cash-out after disbursement -----------------------------------------------------------------


def cash_out(days_after: int, amount: str = "9000.00", kind: str = "CASH_WITHDRAWAL") -> int:
    orig = D - dt.timedelta(days=days_after)
    rows = [
        ev("B1", at(orig, 9), "TRANSFER_IN", "10000.00"),
        ev("B1", at(D, 15), kind, amount),
    ]
    book = loans({"origination_date": orig})
    return value(
        w.cash_out_after_disbursement(daily(rows), book, D, POLICY.cash_out_after_disbursement)
    )


def test_cash_out_within_three_days_of_disbursement():
    assert cash_out(0) == 1
    assert cash_out(3) == 1
    assert cash_out(4) == 0
    assert cash_out(3, kind="TRANSFER_OUT") == 1
    assert cash_out(1, kind="PURCHASE") == 0  # spending is not cashing out


def test_cash_out_share_of_principal_edge():
    assert cash_out(1, "5000.00") == 1
    assert cash_out(1, "4999.99") == 0


# --- the stage: daily aggregate, windows across days, a day without events -----------------------


def write_day(lake: Lake, contracts: Path, day: dt.date, loans: pl.LazyFrame, rows: list[dict]):
    snapshot = loans.with_columns(pl.lit(day).alias("snapshot_date")).collect()
    write_partition(snapshot, lake.partition("raw", "loan_snapshot", day), lake.scratch)
    if rows:
        typed = events(rows).select(load_contract(contracts, "events").column_names).collect()
        write_partition(typed, lake.partition("raw", "events", day), lake.scratch)


def test_stage_writes_aggregates_and_signals_across_days(tmp_path):
    contracts = CONTRACTS
    lake = Lake(tmp_path, tmp_path / "landing")
    book = loans({}, {"loan_id": "L2", "borrower_id": "B2", "region_code": "440101"})
    day1, day2, day3 = D - dt.timedelta(days=2), D - dt.timedelta(days=1), D
    write_day(lake, contracts, day1, book, [ev("B1", at(day1), "LOGIN_SUCCESS", device="HOME")])
    write_day(lake, contracts, day2, book, [])  # the optional feed did not come
    today = [ev("B1", at(D, 1, m), "LOGIN_FAILURE", device="X", ip="440305") for m in range(5)]
    today += [ev("B1", at(D, 2), "LOGIN_SUCCESS", device="NEW", ip="310101")]
    write_day(lake, contracts, day3, book, today)
    first = signals_day(lake, contracts, POLICY, day1)
    assert first["daily"]["rows"] == 1 and first["rows_out"] == 2
    assert signals_day(lake, contracts, POLICY, day2)["daily"]["rows"] == 0
    report = signals_day(lake, contracts, POLICY, day3)
    assert report["window_days_rebuilt_from_raw"] == 0
    out = pl.read_parquet(lake.partition_file("curated", "borrower_signals", D))
    assert out.schema == load_contract(contracts, "borrower_signals").polars_schema
    assert out["borrower_id"].to_list() == ["B1", "B2"]
    b1 = out.row(0, named=True)
    assert (b1["signal_login_failure_burst"], b1["signal_new_device"]) == (5, 1)
    assert b1["signal_out_of_province_login"] == 5
    assert out.row(1, named=True)["signal_new_device"] == 0
    agg = pl.read_parquet(lake.partition_file("curated", "borrower_events_daily", D))
    assert agg.schema == load_contract(contracts, "borrower_events_daily").polars_schema
    assert agg.row(0, named=True)["devices_seen"] == ["NEW"]
    assert agg.row(0, named=True)["login_failure_count"] == 5


def test_stage_rebuilds_missing_aggregates_and_reruns_give_the_same_bytes(tmp_path):
    contracts = CONTRACTS
    lake = Lake(tmp_path, tmp_path / "landing")
    book = loans()
    earlier = D - dt.timedelta(days=3)
    write_day(lake, contracts, earlier, book, [ev("B1", at(earlier), "PURCHASE", "2.00")])
    write_day(lake, contracts, D, book, [ev("B1", at(D), "LOGIN_SUCCESS", device="NEW")])
    first = signals_day(lake, contracts, POLICY, D)
    assert first["window_days_rebuilt_from_raw"] == 1
    assert first["borrowers_flagged"]["signal_new_device"] == 1
    again = signals_day(lake, contracts, POLICY, D)
    assert again["output"]["sha256"] == first["output"]["sha256"]
    assert again["daily"]["sha256"] == first["daily"]["sha256"]


CARRIED = ("borrower_devices", "borrower_transaction_windows", "loan_pre_due_flows")


def test_carried_tables_move_day_to_day_and_are_rebuilt_when_their_window_changed(tmp_path):
    contracts = CONTRACTS
    lake = Lake(tmp_path, tmp_path / "landing")
    days = [D - dt.timedelta(days=back) for back in (3, 2, 1, 0)]
    book = loans({**UNPAID, "oldest_unpaid_due_date": days[2]})

    def login(day: dt.date, device: str) -> None:
        spending = [ev("B1", at(day, 9, m), "PURCHASE", "500.00", None) for m in range(4)]
        rows = [*spending, ev("B1", at(day), "LOGIN_SUCCESS", device=device)]
        write_day(lake, contracts, day, book, rows)

    for day, device in zip(days, ("HOME", "HOME", "PHONE", "NEW"), strict=True):
        login(day, device)
    reports = [signals_day(lake, contracts, POLICY, day) for day in days]
    assert [r["carried_from_previous_day"] for r in reports] == [False, True, True, True]
    assert [r["borrowers_flagged"]["signal_new_device"] for r in reports] == [0, 0, 1, 1]
    # 12 purchases in the 7 days, none before: a spike from the third day on.
    assert [r["borrowers_flagged"]["signal_transaction_spike"] for r in reports] == [0, 0, 1, 1]
    # 2 x 2000.00 spent in the 7 days before the due date days[2]: a mismatch from that day.
    assert [r["borrowers_flagged"]["signal_fund_flow_mismatch"] for r in reports] == [0, 0, 1, 1]
    state = {t: pl.read_parquet(lake.partition_file("curated", t, D)) for t in CARRIED}
    for table, frame in state.items():
        assert frame.schema == load_contract(contracts, table).polars_schema
    assert state["borrower_devices"].select("device_id", "last_seen").rows() == [
        ("HOME", days[1]),
        ("NEW", D),
        ("PHONE", days[2]),
    ]
    assert state["borrower_transaction_windows"].select(pl.exclude("snapshot_date")).rows() == [
        ("B1", 16, 0)
    ]
    assert state["loan_pre_due_flows"]["outflow_amount"].to_list() == [Decimal("4000.00")]
    # Another signal policy: the previous day's tables were moved on by the old one.
    edited = POLICY.model_copy(update={"transaction_spike": POLICY.transaction_spike.model_copy(
        update={"window_days": 2})})  # fmt: skip
    assert signals_day(lake, contracts, edited, D)["carried_from_previous_day"] is False
    # Rebuilt from the window's aggregates, the day's outputs are the same bytes.
    lake.partition_inputs("curated", "borrower_signals", days[2]).unlink()
    rebuilt = signals_day(lake, contracts, POLICY, D)
    assert rebuilt["carried_from_previous_day"] is False
    for table in (*CARRIED, "output"):
        assert rebuilt[table]["sha256"] == reports[-1][table]["sha256"], table
    # A day of the window rerun with other events: the carried tables no longer hold.
    assert signals_day(lake, contracts, POLICY, days[2])["carried_from_previous_day"]
    login(days[1], "NEW")
    signals_day(lake, contracts, POLICY, days[1])
    rerun = signals_day(lake, contracts, POLICY, D)
    assert rerun["carried_from_previous_day"] is False
    assert rerun["borrowers_flagged"]["signal_new_device"] == 0  # NEW was seen on days[1]


# --- configuration -------------------------------------------------------------------------------


def test_the_pinned_policy_loads_from_its_file(tmp_path):
    assert s.load_signal_policy(write_policy(tmp_path, "signals.yaml", SIGNALS)) == POLICY


@pytest.mark.parametrize(
    ("rule", "old", "key", "value"),
    [
        ("login_failure_burst", "min_failures", "min_failures", 0),
        ("new_device", "lookback_days", "lookback_days", "soon"),
        ("transaction_spike", "min_ratio", "min_ratio", -1),
        ("fund_flow_mismatch", "min_outflow_amount", "min_outflow_amount", "10.001"),
        ("cash_out_after_disbursement", "min_share_of_principal", "share", 0.5),  # a typo'd key
    ],
)
def test_config_errors_name_the_key(tmp_path, rule, old, key, value):
    document = copy.deepcopy(SIGNALS)
    del document[rule][old]
    document[rule][key] = value
    write_policy(tmp_path, "signals.yaml", document)
    with pytest.raises(ConfigError, match=r"signals\.yaml") as caught:
        s.load_signal_policy(tmp_path)
    assert f"{rule}.{key}" in str(caught.value)
