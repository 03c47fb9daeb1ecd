"""Delinquency history (loan_state) at its edges, each day checked against the from-scratch
recomputation as well as against the answer worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import CONTRACTS

from loanrisk.domain.history import DAY_COLUMNS, advance_state, running_peaks, state_from_history

D0 = dt.date(2025, 1, 1)
WINDOW = 365


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def aged(rows: list[tuple]) -> pl.DataFrame:
    """rows: (loan_id, borrower_id, account_status, dpd, aging_bucket)."""
    schema = {c: pl.Int32 if c == "dpd" else pl.String for c in DAY_COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row")


def bucket(dpd: int) -> str:
    return "M0" if dpd == 0 else f"M{min((dpd + 29) // 30, 7)}"


def loan(loan_id: str, dpd: int, status: str = "ACTIVE", borrower: str = "B1") -> tuple:
    name = {"CLOSED": "CLOSED", "WRITTEN_OFF": "WO"}.get(status, bucket(dpd))
    return (loan_id, borrower, status, dpd, name)


def replay(days: dict[int, list[tuple]]) -> dict[int, pl.DataFrame]:
    """Advance the state over the given processed days (gaps allowed); check each day against
    ``state_from_history``; return the state of every day."""
    states, previous, history = {}, None, []
    for n in sorted(days):
        today = aged(days[n])
        history.append(today.with_columns(snapshot_date=pl.lit(day(n))))
        state = advance_state(previous, today.lazy(), day(n), WINDOW).collect()
        scratch = state_from_history(pl.concat(history).lazy(), day(n), WINDOW).collect()
        assert state.equals(scratch), f"day {n}: incremental != from scratch\n{state}\n{scratch}"
        states[n], previous = state, state.lazy()
    return states


def row(state: pl.DataFrame, loan_id: str) -> dict:
    found = state.filter(pl.col("loan_id") == loan_id)
    assert found.height == 1, f"{loan_id} not in state"
    return found.row(0, named=True)


def test_episode_starting_on_the_first_day_of_history():
    states = replay({0: [loan("L1", 40)], 1: [loan("L1", 41)]})
    first = row(states[0], "L1")
    assert first["episode_start_date"] == day(0)
    # 40 days past due on day 0: first past due on day -39
    assert first["first_delinquency_date"] == day(-39)
    assert first["loan_episodes_12m"] == first["episodes_12m"] == 1
    nxt = row(states[1], "L1")
    assert nxt["episode_start_date"] == day(0) and nxt["loan_episodes_12m"] == 1
    assert nxt["max_dpd_12m"] == 41 and nxt["days_in_bucket"] == 2


@pytest.mark.parametrize(("gap", "expected"), [(364, 2), (365, 1), (366, 1)])
def test_two_episodes_a_year_apart(gap, expected):
    states = replay({0: [loan("L1", 5)], 10: [loan("L1", 0)], gap: [loan("L1", 1)]})
    last = row(states[gap], "L1")
    assert last["episode_start_date"] == day(gap)
    # the window is the 365 days ending on the business day: day 0 is in it up to day 364
    assert last["loan_episodes_12m"] == last["episodes_12m"] == expected
    assert last["max_dpd_12m"] == (5 if gap == 364 else 1)


def test_cure_then_relapse_the_next_day():
    states = replay({1: [loan("L1", 10)], 2: [loan("L1", 0)], 3: [loan("L1", 1)]})
    cured = row(states[2], "L1")
    assert cured["cure_date"] == day(2)
    assert cured["episode_start_date"] is None and cured["first_delinquency_date"] is None
    relapsed = row(states[3], "L1")
    assert relapsed["episode_start_date"] == relapsed["first_delinquency_date"] == day(3)
    assert relapsed["cure_date"] == day(2)
    assert relapsed["loan_episodes_12m"] == 2 and relapsed["max_dpd_12m"] == 10


def test_loan_closed_while_delinquent_is_not_cured_but_still_counts_for_the_borrower():
    states = replay(
        {
            1: [loan("L1", 40), loan("L2", 0)],
            2: [loan("L1", 0, "CLOSED"), loan("L2", 0)],
            3: [loan("L2", 3)],
        }
    )
    closed = row(states[2], "L1")
    assert closed["cure_date"] is None and closed["episode_start_date"] is None
    assert closed["aging_bucket"] == "CLOSED"
    gone = row(states[3], "L1")
    assert gone["in_snapshot"] is False and gone["last_seen_date"] == day(2)
    assert gone["days_in_bucket"] is None
    other = row(states[3], "L2")
    assert other["loan_episodes_12m"] == 1
    assert other["episodes_12m"] == 2  # the closed loan's episode still counts


def test_written_off_loan_keeps_its_episode_open():
    states = replay({1: [loan("L1", 180)], 2: [loan("L1", 181, "WRITTEN_OFF")]})
    written_off = row(states[2], "L1")
    assert written_off["episode_start_date"] == day(1)
    assert written_off["cure_date"] is None and written_off["max_dpd_12m"] == 181


def test_loan_leaves_the_state_once_its_window_is_empty():
    states = replay({0: [loan("L1", 0, "CLOSED"), loan("L2", 0)], 1: [loan("L2", 0)]})
    assert states[1]["loan_id"].to_list() == ["L2"]
    states = replay({0: [loan("L1", 9)], 1: [loan("L2", 0)], 365: [loan("L2", 0)]})
    assert row(states[1], "L1")["in_snapshot"] is False
    assert states[365]["loan_id"].to_list() == ["L2"]


def test_absent_day_breaks_the_episode_and_the_bucket_run():
    states = replay({1: [loan("L1", 5)], 2: [loan("L2", 0)], 3: [loan("L1", 7)]})
    back = row(states[3], "L1")
    assert back["episode_start_date"] == day(3) and back["loan_episodes_12m"] == 2
    assert back["bucket_entry_date"] == day(3)


def test_partial_payment_lowers_dpd_but_not_the_12_month_maximum():
    states = replay({1: [loan("L1", 45)], 2: [loan("L1", 15)], 3: [loan("L1", 16)]})
    later = row(states[3], "L1")
    assert later["dpd"] == 16 and later["max_dpd_12m"] == 45
    assert later["episode_start_date"] == day(1)  # still the same episode
    assert [p["dpd"] for p in later["dpd_peaks"]] == [45, 16]
    assert later["bucket_entry_date"] == day(2) and later["days_in_bucket"] == 2


def test_running_peaks_keep_only_possible_future_maxima():
    peaks = [{"date": day(n), "dpd": d} for n, d in enumerate([3, 9, 4, 4, 7, 2])]
    frame = pl.DataFrame(
        {"p": [peaks]}, schema={"p": pl.List(pl.Struct({"date": pl.Date, "dpd": pl.Int32}))}
    )
    kept = frame.select(running_peaks(pl.col("p"), day(2)))["p"][0].to_list()
    assert [(p["date"], p["dpd"]) for p in kept] == [(day(4), 7), (day(5), 2)]


def test_state_columns_are_the_contracts():
    from loanrisk.domain.history import STATE_SCHEMA
    from loanrisk.domain.probation import PROBATION_SCHEMA
    from loanrisk.quality.contracts import load_contract

    contract = load_contract(CONTRACTS, "loan_state")
    probation = {k: v for k, v in PROBATION_SCHEMA.items() if k != "loan_id"}
    assert contract.polars_schema == pl.Schema({**STATE_SCHEMA, **probation})
