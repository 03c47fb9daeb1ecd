"""Masking of personal data (DESIGN.md §5b): one definition, applied in Python and in SQL.

A contract column marked ``mask: <kind>`` is masked by the kind's ``Mask``: a value of the
kind's well-formed shape keeps ``first`` leading and ``last`` trailing characters and shows an
asterisk for each other one; any other value (short, long, malformed: ``=1+2``, a 10-digit
phone, markup) is masked whole, one asterisk per character. Each kind keeps fewer characters
than it hides, so masking never reveals more than it hides.

The shapes are regular expressions in the subset Python's ``re`` and DuckDB's RE2 read alike
(character classes and ``\\xhh`` escapes), matched against the whole value; lengths count
Unicode code points in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loanrisk.domain.sql import quote

MASK_CHAR = "*"


@dataclass(frozen=True)
class Mask:
    """How one kind of personal value is masked."""

    shape: str  # regular expression a well-formed value matches whole
    first: int  # leading characters kept of a well-formed value
    last: int  # trailing characters kept of a well-formed value
    min_length: int  # shortest well-formed value: kept characters stay fewer than hidden ones

    def __post_init__(self) -> None:
        kept = self.first + self.last
        if kept > self.min_length - kept:
            raise ValueError(f"mask {self.shape!r} keeps as much as it hides")


MASKS = {
    # Mainland mobile number: the operator prefix only (the last digits would name the person
    # together with it).
    "mobile_phone": Mask(shape="[0-9]{11}", first=3, last=0, min_length=11),
    # Resident identity number: the 6-digit region code (published as region_code anyway) and
    # the check digit; birth date and sequence number (sex) hidden.
    "national_id": Mask(shape="[0-9]{17}[0-9X]", first=6, last=1, min_length=18),
    # Legal name: the surname's first character, when the name is at least two letters (no
    # ASCII digit, punctuation, space or control character, nor a Latin-1 symbol).
    "name": Mask(shape="[^\\x00-\\x40\\x5b-\\x60\\x7b-\\xbf]{2,}", first=1, last=0, min_length=2),
}


def mask_value(kind: str, value: str | None) -> str | None:
    """``value`` masked as a ``kind`` (a key of ``MASKS``); None stays None."""
    if value is None:
        return None
    mask = MASKS[kind]
    if not re.fullmatch(mask.shape, value):
        return MASK_CHAR * len(value)
    hidden = len(value) - mask.first - mask.last
    return value[: mask.first] + MASK_CHAR * hidden + value[len(value) - mask.last :]


def mask_sql(kind: str, column: str) -> str:
    """DuckDB expression of ``column`` (an SQL expression) masked as ``mask_value`` does."""
    mask = MASKS[kind]
    c = column
    kept = f"left({c}, {mask.first}) || repeat({quote(MASK_CHAR)}, length({c}) - {mask.first}"
    kept += f" - {mask.last}) || right({c}, {mask.last})"
    return (
        f"CASE WHEN regexp_full_match({c}, {quote(mask.shape)}) THEN {kept} "
        f"ELSE repeat({quote(MASK_CHAR)}, length({c})) END"
    )
