"""Read a landing file as text: every field a string, as written (``=HYPERLINK(...)``
included), with the line each record starts on. ``loanrisk.quality.casting`` types it by the
contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loanrisk.errors import LandingFileError, redacted
from loanrisk.quality.contracts import Contract
from loanrisk.quality.control_file import check_complete, read_control_file

SOURCE_LINE = "source_line"


def file_blocks(path: Path, size: int = 1 << 22) -> Iterator[bytes]:
    """The file's bytes in blocks of ``size``, for one pass over a file of any size."""
    with open(path, "rb") as handle:
        while block := handle.read(size):
            yield block


def raw_name(column: str) -> str:
    """Name of the untouched text of a column, kept beside the typed value."""
    return f"{column}__raw"


def _is_utf8(encoding: str) -> bool:
    return encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig")


def _decode_or_name_line(
    data: bytes, encoding: str, file_name: str, first_line: int = 1, shift: int = 0
) -> str:
    """``data`` decoded, or FILE_UNREADABLE naming the line and byte (a block of the file:
    ``data``'s records start on line ``first_line``, byte ``shift`` + offset in the file)."""
    try:
        return data.decode("utf-8-sig" if _is_utf8(encoding) else encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + first_line
        raise LandingFileError(
            "FILE_UNREADABLE",
            file_name,
            f"not valid {encoding} at line {line} (byte {exc.start + shift}); "
            "declare the file's encoding as input_encoding in config/pipeline.yaml",
        ) from None


# The reader's row number (from 2: the header is line 1), chunked like the fields it reads:
# a column of one chunk beside the reader's many made later selects copy every column.
ROW_NUMBER = "__loanrisk_row_number"
_ROW = {"row_index_name": ROW_NUMBER, "row_index_offset": 2}


def _load_text(path: Path, encoding: str) -> pl.DataFrame:
    """Every field as text, after the reader's ``ROW_NUMBER``."""
    if path.suffix == ".parquet":
        # A Parquet landing file goes through the same text-then-type path as a CSV.
        frame = pl.read_parquet(path, glob=False, **_ROW)
        return frame.select(ROW_NUMBER, pl.exclude(ROW_NUMBER).cast(pl.String))
    if not _is_utf8(encoding):
        data = path.read_bytes()
        text = _decode_or_name_line(data, encoding, path.name).encode("utf-8")
        return pl.read_csv(text, infer_schema=False, **_ROW)
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8", glob=False, **_ROW)
    except pl.exceptions.ComputeError:
        _decode_or_name_line(path.read_bytes(), encoding, path.name)  # names the bad line
        raise


@dataclass(frozen=True)
class FileFacts:
    """What one pass over a landing file's bytes tells: its SHA-256 (for the run manifest),
    how many ``\n`` bytes it holds (in any encoding read here a ``\n`` byte is a line break:
    GBK's second bytes are 0x40 and above) and whether it ends with one."""

    sha256: str
    line_breaks: int
    final_newline: bool


def file_facts(path: Path) -> FileFacts:
    digest, count, last = hashlib.sha256(), 0, b""
    for block in file_blocks(path):
        digest.update(block)
        count, last = count + block.count(b"\n"), block[-1:]
    return FileFacts(digest.hexdigest(), count, last == b"\n")


def _source_lines(
    frame: pl.DataFrame, parquet: bool, facts: FileFacts, first_line: int = 2
) -> pl.Expr:
    """1-based line where each record starts; quoted fields may hold line breaks.

    In a Parquet file a row is a record (the header counts as line 1 there too). In a CSV
    file, when its line breaks number one per row and one for the header (less one if it does
    not end with a break), no field holds a break and each row takes one line: counting the
    breaks in every field (far dearer than counting the file's) is skipped.
    Otherwise they are counted field by field: the file's total alone cannot tell one embedded
    break from a final newline. ``first_line``: the line of the first row (a block's, the
    header's breaks counted in ``facts``).
    """
    one_line_each = facts.line_breaks == frame.height + (1 if facts.final_newline else 0)
    if parquet or one_line_each:
        return pl.col(ROW_NUMBER).cast(pl.Int64).alias(SOURCE_LINE)
    fields = (c for c in frame.columns if c != ROW_NUMBER)
    inner = pl.sum_horizontal(pl.col(c).str.count_matches("\n").fill_null(0) for c in fields)
    lines_used = inner.cast(pl.Int64) + 1
    return (lines_used.cum_sum() - lines_used + first_line).alias(SOURCE_LINE)


def _without_blank_lines(
    frame: pl.DataFrame, data: Callable[[], bytes] | None, first_line: int = 1
) -> pl.DataFrame:
    """Drop the rows Polars makes of blank lines (all fields null): a blank line is no record
    (Python's csv, pandas and DuckDB skip it). A line of empty fields (``,,,``) is one.
    ``data``: the CSV bytes read (None: Parquet), from line ``first_line`` of the file."""
    if data is None:
        return frame
    # Counted before anything is filtered: most files have no blank line, and a filter of the
    # whole frame for none is a pass over every column.
    all_null = pl.all_horizontal(pl.exclude(SOURCE_LINE, ROW_NUMBER).is_null())
    if frame.select(all_null.sum()).item() == 0:
        return frame
    empty = frame.filter(all_null)
    physical = data().split(b"\n")
    blank = [
        n
        for n in empty[SOURCE_LINE].to_list()
        if 0 <= n - first_line < len(physical) and not physical[n - first_line].strip(b"\r")
    ]
    return frame.filter(~pl.col(SOURCE_LINE).is_in(blank))


def _raw_columns(frame: pl.DataFrame, columns: list[str]) -> list[pl.Expr]:
    """Each column as its ``<column>__raw``, a quoted empty field (``""``, as quote-all exports
    write every empty value) made empty like an unquoted one (Polars alone reads it as an
    empty string). Only columns holding an empty string are rewritten: the others are renamed
    as they are, not copied (a copy of every column would double the text's memory)."""
    has_empty = frame.select(pl.col(c).eq("").any() for c in columns).row(0)
    return [
        (pl.when(pl.col(c) != "").then(pl.col(c)) if empty else pl.col(c)).alias(raw_name(c))
        for c, empty in zip(columns, has_empty, strict=True)
    ]


@contextmanager
def landing_read(path: Path, encoding: str) -> Iterator[None]:
    """A read of the landing file: its errors as ``LandingFileError`` (FILE_EMPTY,
    FILE_UNREADABLE), without field text (it may be PII)."""
    try:
        yield
    except pl.exceptions.NoDataError:
        raise LandingFileError("FILE_EMPTY", path.name, "file has no header and no rows") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "Parquet" if path.suffix == ".parquet" else f"{encoding} CSV"
        reason = redacted(str(exc)) or type(exc).__name__
        raise LandingFileError(
            "FILE_UNREADABLE", path.name, f"unreadable as {kind}: {reason}"
        ) from None


def _parsed(path: Path, encoding: str) -> pl.DataFrame:
    """Every field of the file as text, or ``LandingFileError`` (FILE_EMPTY, FILE_UNREADABLE)."""
    with landing_read(path, encoding):
        return _load_text(path, encoding)


def check_header(frame: pl.DataFrame, path: Path, contract: Contract) -> None:
    missing = [c for c in contract.column_names if c not in frame.columns]
    if missing:
        raise LandingFileError(
            "COLUMN_MISSING",
            path.name,
            f"required column(s) missing for contract "
            f"{contract.name} v{contract.version}: {', '.join(missing)}",
        )
    # Polars renames a repeated header name to ``<name>_duplicated_<n>``: which column holds
    # the contract's values would be a guess.
    repeated = [c for c in contract.column_names if f"{c}_duplicated_0" in frame.columns]
    if repeated:
        raise LandingFileError(
            "FILE_UNREADABLE",
            path.name,
            f"column(s) named more than once in the header: {', '.join(repeated)}",
        )


def _text_and_facts(
    path: Path, contract: Contract, encoding: str
) -> tuple[pl.DataFrame, FileFacts]:
    """``read_text_and_facts`` of a file that is there, without its control file."""
    if path.stat().st_size == 0:
        raise LandingFileError("FILE_EMPTY", path.name, "file is empty (0 bytes)")
    with ThreadPoolExecutor(1) as pool:
        facts = pool.submit(file_facts, path)
        frame = _parsed(path, encoding)
        check_header(frame, path, contract)
        parquet = path.suffix == ".parquet"
        lines = _source_lines(frame, parquet, facts.result())
    frame = _without_blank_lines(frame.with_columns(lines), None if parquet else path.read_bytes)
    if frame.height == 0 and contract.required_feed:
        raise no_rows(path)
    return text_columns(frame, contract), facts.result()


def no_rows(path: Path) -> LandingFileError:
    """FILE_EMPTY of a required feed's file with a header and no rows."""
    return LandingFileError("FILE_EMPTY", path.name, "file has a header but no rows")


def text_columns(frame: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """``source_line`` and each contract column as its ``<column>__raw`` (extra columns go)."""
    return frame.select(SOURCE_LINE, *_raw_columns(frame, contract.column_names))


def read_text_and_facts(
    path: Path, contract: Contract, encoding: str, require_control: bool = False
) -> tuple[pl.DataFrame, FileFacts]:
    """The landing file as text: ``<column>__raw`` per contract column and ``source_line``;
    and its ``FileFacts``, taken in a thread while Polars parses the file (hashing releases
    the GIL, so the pass costs about nothing beside the parse).

    A header with no rows is FILE_EMPTY for a required feed (the day's book cannot be empty)
    and zero rows for an optional one (no events or contacts that day).

    The file's control file (``loans_D.done``, ``loanrisk.quality.control_file``), when there,
    must give its row count and sha256 (FILE_INCOMPLETE, also in place of the gate of a file
    it shows was cut or altered); ``require_control``: without one the file has not arrived.

    Raises ``LandingFileError`` naming the file gate for a missing, incomplete, unreadable or
    empty file or a missing contract column.
    """
    if not path.is_file():
        raise LandingFileError("FILE_MISSING", path.name, f"file not found in {path.parent}")
    control = read_control_file(path, require_control)
    if control is None:
        return _text_and_facts(path, contract, encoding)
    try:
        text, facts = _text_and_facts(path, contract, encoding)
    except LandingFileError:
        check_complete(control, path, None, file_facts(path).sha256)
        raise
    check_complete(control, path, text.height, facts.sha256)
    return text, facts


def read_text(path: Path, contract: Contract, encoding: str) -> pl.DataFrame:
    """``read_text_and_facts`` without the facts."""
    return read_text_and_facts(path, contract, encoding)[0]


def extra_columns(path: Path, contract: Contract) -> list[str]:
    """Columns in the file that the contract does not know (ignored, reported)."""
    if path.suffix == ".parquet":
        names = pl.read_parquet_schema(path).keys()
    else:
        names = pl.read_csv(
            path, n_rows=0, infer_schema=False, encoding="utf8-lossy", glob=False
        ).columns
    return sorted(set(names) - set(contract.column_names))
