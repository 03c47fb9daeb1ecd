"""Reading a landing file as text: each row's source line, however the file breaks its lines."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from loanrisk.quality.contracts import load_contract
from loanrisk.quality.parsing import SOURCE_LINE, file_facts, read_text

HEADER = "contact_id,borrower_id,loan_id,contact_time,channel,outcome,promise_date,promise_amount"
ROW = "C{n},B{n},L{n},2026-03-01T09:00:00+08:00,SMS,NO_ANSWER,,"
QUOTED = 'C{n},B{n},L{n},2026-03-01T09:00:00+08:00,SMS,"NO\nANSWER",,'

# (lines after the header, line ending, final line break) -> source line of each row.
LAYOUTS = {
    "lf": ([ROW, ROW, ROW], "\n", True, [2, 3, 4]),
    "lf-no-final-break": ([ROW, ROW, ROW], "\n", False, [2, 3, 4]),
    "crlf": ([ROW, ROW, ROW], "\r\n", True, [2, 3, 4]),
    "blank-line-between": ([ROW, "", ROW], "\n", True, [2, 4]),
    "trailing-blank-lines": ([ROW, ROW, "", ""], "\n", True, [2, 3]),
    # One embedded break and no final one: the file's break count equals the rows', yet the
    # third row starts a line further down.
    "embedded-break-no-final-break": ([ROW, QUOTED, ROW], "\n", False, [2, 3, 5]),
    "embedded-break": ([QUOTED, ROW, QUOTED, ROW], "\n", True, [2, 4, 5, 7]),
}


@pytest.mark.parametrize("layout", list(LAYOUTS), ids=list(LAYOUTS))
def test_source_line_is_where_the_record_starts(tmp_path: Path, config_dir, layout):
    lines, ending, final_break, expected = LAYOUTS[layout]
    body = [line.format(n=i) for i, line in enumerate(lines)]
    text = ending.join([HEADER, *body]) + (ending if final_break else "")
    path = tmp_path / "contacts_2026-03-01.csv"
    path.write_bytes(text.encode())
    contract = load_contract(config_dir.parent / "data_contracts", "contacts")
    frame = read_text(path, contract, "utf-8")
    assert frame[SOURCE_LINE].to_list() == expected


@pytest.mark.parametrize("final_break", [True, False])
def test_file_facts_count_breaks_and_hash_the_whole_file(tmp_path: Path, final_break):
    # Larger than one read block (4 MiB), with a break on each side of the block boundary.
    data = b"x" * ((1 << 22) - 1) + b"\n\n" + b"y\r\n" * 1000 + (b"\n" if final_break else b"z")
    path = tmp_path / "loans_2026-03-01.csv"
    path.write_bytes(data)
    facts = file_facts(path)
    assert facts.sha256 == hashlib.sha256(data).hexdigest()
    assert facts.line_breaks == data.count(b"\n")
    assert facts.final_newline is final_break


def test_source_lines_of_a_file_read_in_many_chunks(tmp_path: Path, config_dir):
    # Big enough for the reader to split it: each row's line is its place in the file, and a
    # blank line deep inside it is dropped without moving the rows after it.
    rows = [ROW.format(n=i) for i in range(60_000)]
    rows.insert(45_000, "")
    path = tmp_path / "contacts_2026-03-01.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    contract = load_contract(config_dir.parent / "data_contracts", "contacts")
    frame = read_text(path, contract, "utf-8")
    assert frame.height == 60_000
    expected = [*range(2, 45_002), *range(45_003, 60_003)]
    assert frame[SOURCE_LINE].to_list() == expected
    assert frame["contact_id__raw"][45_000] == "C45000"
    assert "__loanrisk_row_number" not in frame.columns
