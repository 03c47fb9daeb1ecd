"""Tables are written sorted by their key, whether or not they arrive in order, and in the same
bytes however their frame is chunked."""

from __future__ import annotations

import polars as pl

from loanrisk.domain.ordering import sorted_by
from loanrisk.lake.storage import write_partition


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


def test_a_partition_has_the_same_bytes_however_its_frame_is_chunked(tmp_path):
    # The streaming engine returns a frame in chunks that differ from run to run; the file
    # must not show it: Polars' default row groups follow the chunks, and a list column's pages
    # follow them even in fixed row groups (seen past one row group: 262,144 rows).
    rows = 300_000
    whole = pl.DataFrame({"dpd": range(rows)}).with_columns(
        pl.when(pl.col("dpd") % 3 > 0).then(pl.concat_list("dpd", "dpd")).alias("loan_ids")
    )
    written = []
    for cuts in ((rows,), (10, rows - 10), (rows // 8,) * 8):
        starts = [sum(cuts[:i]) for i in range(len(cuts))]
        parts = [whole.slice(start, n) for start, n in zip(starts, cuts, strict=True)]
        chunked = pl.concat(parts, rechunk=False)
        assert chunked.n_chunks() == len(cuts)
        path = write_partition(chunked, tmp_path / f"t{len(cuts)}", tmp_path / "_tmp")
        written.append(path.read_bytes())
    assert written[0] == written[1] == written[2]
