"""Landing files written as the book streams: each block of borrowers appends its rows.

A file is built under a temporary sibling (``.<name>.tmp``) while the blocks run, its row
count and sha256 taken from the bytes as they are appended, and renamed into place only when
every block has written (then its ``.done`` control file, with ``control_files``). A failed run
leaves no temporary file behind and no file of the run in place.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import polars as pl

from loanrisk.quality.control_file import control_path

# Rows formatted per write: bounds the CSV text held at once; never changes the bytes (each
# row's text does not depend on the rows around it).
WRITE_ROWS = 25_000


@dataclass
class _Growing:
    """One landing file being appended to, with what its control file will say."""

    path: Path
    rows: int = 0
    digest: object = field(default_factory=hashlib.sha256)

    @property
    def tmp(self) -> Path:
        return self.path.with_name(f".{self.path.name}.tmp")


class LandingSink:
    """The run's landing files, in the order they are declared (day by day, feed by feed)."""

    def __init__(self, control_files: bool) -> None:
        self.control_files = control_files
        self._files: dict[Path, _Growing] = {}

    def append(self, path: Path, frame: pl.DataFrame) -> None:
        """Append ``frame``'s rows to ``path`` (the first append writes the header)."""
        growing = self._files.get(path)
        first = growing is None
        if first:
            path.parent.mkdir(parents=True, exist_ok=True)
            growing = self._files[path] = _Growing(path)
        with open(growing.tmp, "wb" if first else "ab") as handle:
            for start in range(0, max(frame.height, 1), WRITE_ROWS):
                text = _csv_bytes(frame.slice(start, WRITE_ROWS), header=first and start == 0)
                growing.digest.update(text)
                handle.write(text)
        growing.rows += frame.height

    def finish(self) -> list[Path]:
        """Every file renamed into place (and its control file written after it)."""
        written = []
        for growing in self._files.values():
            os.replace(growing.tmp, growing.path)
            written.append(growing.path)
            if self.control_files:
                written.append(write_control_file(growing.path, growing.rows, growing.digest))
        self._files.clear()
        return written

    def abort(self) -> None:
        """Remove every temporary file (a run that failed part-way)."""
        for growing in self._files.values():
            growing.tmp.unlink(missing_ok=True)
        self._files.clear()


def _csv_bytes(frame: pl.DataFrame, header: bool) -> memoryview:
    """The rows as CSV text (a view of the buffer: no copy)."""
    buffer = BytesIO()
    frame.write_csv(buffer, include_header=header, separator=",", line_terminator="\n")
    return buffer.getbuffer()


def write_control_file(path: Path, rows: int, digest) -> Path:
    """The lending core's control file, written after the data file (DESIGN.md §4 v2):
    ``<name>.done`` beside ``path`` holding ``{"file", "rows", "sha256"}``."""
    done = control_path(path)
    tmp = done.with_name(f".{done.name}.tmp")
    document = {"file": path.name, "rows": rows, "sha256": digest.hexdigest()}
    tmp.write_text(json.dumps(document) + "\n", encoding="utf-8")
    os.replace(tmp, done)
    return done
