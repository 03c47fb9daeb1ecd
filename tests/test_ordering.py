"""Tables are written sorted by their key, whether or not they arrive in order."""

from __future__ import annotations

import polars as pl

from loanrisk.ordering import sorted_by


def test_a_frame_out_of_order_is_sorted_and_one_in_order_is_kept_and_flagged():
    shuffled = pl.DataFrame({"loan_id": ["L3", "L1", "L2"], "balance": [3, 1, 2]})
    got = sorted_by(shuffled, "loan_id")
    assert got.rows() == [("L1", 1), ("L2", 2), ("L3", 3)]
    in_order = pl.DataFrame({"loan_id": ["L1", "L2", "L3"], "balance": [1, 2, 3]})
    assert not in_order["loan_id"].flags["SORTED_ASC"]
    kept = sorted_by(in_order, "loan_id")
    assert kept.equals(in_order) and kept["loan_id"].flags["SORTED_ASC"]


def test_nulls_and_a_single_inversion_are_sorted_as_sort_does():
    late = pl.DataFrame({"loan_id": ["L1", "L2", "L4", "L3", "L5"], "n": [1, 2, 4, 3, 5]})
    assert sorted_by(late, "loan_id")["n"].to_list() == [1, 2, 3, 4, 5]
    nulls = pl.DataFrame({"loan_id": ["L1", None, "L2"], "n": [1, 0, 2]})
    assert sorted_by(nulls, "loan_id").equals(nulls.sort("loan_id"))
