"""Read a landing file as text in blocks, in one pass: memory bounded by a block, not the file.

Each block is the text ``parsing.read_text_and_facts`` makes of the whole file, for the block's
records: every field a string as written, ``<column>__raw`` per contract column and the
``source_line`` a record starts on. A CSV file is cut at line breaks outside quoted fields
(an even count of ``"`` before the break, as RFC 4180 quoting keeps it), and each block is
parsed as a small CSV of the header and the block's records: the reader, its rules and its
errors are the whole file's. A Parquet file is read a slice of rows at a time. The file's
facts (sha256, line breaks) are taken from the same bytes as they are read; the control file
is checked once the last block is read, and the file's gates are the whole file's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from loanrisk.errors import LandingFileError
from loanrisk.quality.contracts import Contract
from loanrisk.quality.control_file import check_complete, read_control_file
from loanrisk.quality.parsing import (
    _ROW,
    ROW_NUMBER,
    FileFacts,
    _decode_or_name_line,
    _is_utf8,
    _source_lines,
    _without_blank_lines,
    check_header,
    file_facts,
    landing_read,
    no_rows,
    text_columns,
)

#: Bytes of a CSV landing file read at a time (a block's text frame is about twice that).
BLOCK_BYTES = 1 << 24
#: Rows of a Parquet landing file read at a time.
BLOCK_ROWS = 1 << 16


def records_end(data: bytes) -> int:
    """Length of ``data``'s longest prefix of whole records (0: no record ends in it): up to
    its last line break with an even count of quotes before it. ``data`` starts a record.
    From the end, a line at a time: a file's lines rarely break inside quotes."""
    end = data.rfind(b"\n")
    odd = data.count(b'"', 0, end) % 2 if end >= 0 else 0
    while end >= 0 and odd:
        before = data.rfind(b"\n", 0, end)
        odd ^= data.count(b'"', before + 1, end) % 2
        end = before
    return end + 1


def header_end(data: bytes) -> int:
    """Length of the header and the blank lines before it (Polars skips those; 0: the header
    does not end in ``data``): up to the first record's end that ends a line not blank."""
    record = position = odd = 0
    while (end := data.find(b"\n", position)) >= 0:
        odd ^= data.count(b'"', position, end) % 2
        position = end + 1
        if not odd:
            if data[record:end].strip(b"\r"):
                return end + 1
            record = end + 1
    return 0


class TextBlocks:
    """The landing file's text, block by block (``iter``), in file order. Once every block is
    read: ``facts`` (its ``FileFacts``) and ``rows`` (the records read).

    Raises ``LandingFileError`` as ``read_text_and_facts`` does: FILE_MISSING, FILE_EMPTY,
    FILE_UNREADABLE, COLUMN_MISSING, and FILE_INCOMPLETE against the control file (checked
    after the last block, or when a gate stops the read, before that gate is raised)."""

    def __init__(
        self,
        path: Path,
        contract: Contract,
        encoding: str,
        require_control: bool = False,
        block_bytes: int | None = None,
    ):
        self.path, self.contract, self.encoding = path, contract, encoding
        self.require_control = require_control
        self.block_bytes = block_bytes or BLOCK_BYTES
        self.facts: FileFacts | None = None
        self.rows = 0

    def __iter__(self) -> Iterator[pl.DataFrame]:
        path = self.path
        if not path.is_file():
            raise LandingFileError("FILE_MISSING", path.name, f"file not found in {path.parent}")
        control = read_control_file(path, self.require_control)
        try:
            if path.stat().st_size == 0:
                raise LandingFileError("FILE_EMPTY", path.name, "file is empty (0 bytes)")
            blocks = self._parquet() if path.suffix == ".parquet" else self._csv()
            for block in blocks:
                self.rows += block.height
                yield block
            if self.rows == 0 and self.contract.required_feed:
                raise no_rows(path)
        except LandingFileError:
            if control is not None:
                check_complete(control, path, None, (self.facts or file_facts(path)).sha256)
            raise
        if control is not None:
            check_complete(control, path, self.rows, self.facts.sha256)

    def _parquet(self) -> Iterator[pl.DataFrame]:
        """Slices of ``BLOCK_ROWS`` rows (the first one, of no rows for an empty file, gives
        the columns), typed as text as ``parsing`` types the whole file."""
        with landing_read(self.path, self.encoding):
            scan = pl.scan_parquet(self.path, glob=False, **_ROW)
            total = scan.select(pl.len()).collect().item()
            for start in range(0, max(total, 1), BLOCK_ROWS):
                frame = scan.slice(start, BLOCK_ROWS).collect()
                frame = frame.select(ROW_NUMBER, pl.exclude(ROW_NUMBER).cast(pl.String))
                if start == 0:
                    check_header(frame, self.path, self.contract)
                lines = _source_lines(frame, True, FileFacts("", 0, False))
                yield text_columns(frame.with_columns(lines), self.contract)
        self.facts = file_facts(self.path)

    def _csv(self) -> Iterator[pl.DataFrame]:
        """Blocks of whole records, each read under the header; the header alone when no
        record follows (the columns of a file of no rows)."""
        digest, breaks, last = hashlib.sha256(), 0, b""
        pending, header, line, made, offset = b"", None, 1, False, 0
        with open(self.path, "rb") as handle:
            while chunk := handle.read(self.block_bytes):
                digest.update(chunk)
                breaks, last = breaks + chunk.count(b"\n"), chunk[-1:]
                pending += chunk
                if header is None and (cut := header_end(pending)):
                    header, pending = pending[:cut], pending[cut:]
                    line, offset = line + header.count(b"\n"), cut
                if header is not None and (cut := records_end(pending)):
                    yield self._block(header, pending[:cut], line, offset)
                    line, made = line + pending.count(b"\n", 0, cut), True
                    pending, offset = pending[cut:], offset + cut
        self.facts = FileFacts(digest.hexdigest(), breaks, last == b"\n")
        if header is None:  # no line break outside quotes: the file is its header
            header, pending = pending, b""
        if pending or not made:
            yield self._block(header, pending, line, offset)

    def _block(self, header: bytes, records: bytes, line: int, offset: int) -> pl.DataFrame:
        """The text of ``records`` (from line ``line``, byte ``offset`` of the file) under
        ``header``."""
        data = header + records
        where = (line - header.count(b"\n"), offset - len(header))
        with landing_read(self.path, self.encoding):
            frame = self._read(data, line, where)
        check_header(frame, self.path, self.contract)
        facts = FileFacts("", data.count(b"\n"), data.endswith(b"\n"))
        frame = frame.with_columns(_source_lines(frame, False, facts, line))
        return text_columns(_without_blank_lines(frame, lambda: records, line), self.contract)

    def _read(self, data: bytes, line: int, where: tuple[int, int]) -> pl.DataFrame:
        """``data`` as CSV text, rows numbered from ``line``; an undecodable byte names its
        line and byte in the file (``where``: the line and byte ``data`` would start on for
        its records' to be right)."""
        options = {**_ROW, "row_index_offset": line}
        if not _is_utf8(self.encoding):
            text = _decode_or_name_line(data, self.encoding, self.path.name, *where)
            return pl.read_csv(text.encode("utf-8"), infer_schema=False, **options)
        try:
            return pl.read_csv(data, infer_schema=False, encoding="utf8", **options)
        except pl.exceptions.ComputeError:
            _decode_or_name_line(data, self.encoding, self.path.name, *where)
            raise
