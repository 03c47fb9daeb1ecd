"""The control file the lending core writes after a landing file (DESIGN.md §4 v2, control
file): ``loans_YYYY-MM-DD.done`` beside ``loans_YYYY-MM-DD.csv`` (or ``.parquet``), as JSON
``{"file": "<data file name>", "rows": N, "sha256": "<hex of the data file>"}``.

When it is there, the data file must be the one it describes (gate FILE_INCOMPLETE: a file cut
short, still being written or altered after the core closed it). When the configuration
requires it (``require_control_file``), a data file without one has not arrived yet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from loanrisk.errors import IncompleteFileError, LandingFileError

SUFFIX = ".done"
INCOMPLETE = IncompleteFileError.code  # the gate of a broken control file too
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A control file is a few dozen bytes: anything far larger is not one (and is not read whole).
MAX_BYTES = 4096


@dataclass(frozen=True)
class ControlFile:
    name: str  # the control file's own name
    file: str
    rows: int
    sha256: str


def control_path(data: Path) -> Path:
    """``loans_D.done`` for ``loans_D.csv`` or ``loans_D.parquet``."""
    return data.with_suffix(SUFFIX)


def _broken(data: Path, done: Path, why: str) -> LandingFileError:
    return LandingFileError(INCOMPLETE, data.name, f"control file {done.name} {why}")


def _parsed(data: Path, done: Path) -> ControlFile:
    with open(done, "rb") as handle:
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _broken(data, done, f"is over {MAX_BYTES} bytes: not a control file")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _broken(data, done, "is not JSON (still being written?)") from None
    shape = 'a JSON object {"file", "rows", "sha256"}'
    if not isinstance(document, dict):
        raise _broken(data, done, f"is not {shape}")
    file, rows, digest = (document.get(k) for k in ("file", "rows", "sha256"))
    if not isinstance(file, str) or not isinstance(digest, str) or not _SHA256.match(digest):
        raise _broken(data, done, f"is not {shape} with a file name and a 64-hex sha256")
    if type(rows) is not int or rows < 0:
        raise _broken(data, done, "has no row count (rows: a whole number, 0 or more)")
    if file != data.name:
        raise _broken(data, done, f"describes another file ({file[:100]!r})")
    return ControlFile(done.name, file, rows, digest)


def read_control_file(data: Path, required: bool) -> ControlFile | None:
    """The data file's control file; None when there is none and none is required.

    Raises ``LandingFileError``: FILE_MISSING when it is required and not there (the data file
    has not finished arriving), FILE_INCOMPLETE when it is not a control file of this data file.
    """
    done = control_path(data)
    if not done.is_file():
        if required:
            raise LandingFileError(
                "FILE_MISSING",
                data.name,
                f"control file {done.name} not found in {done.parent}: the file has not "
                "finished arriving (require_control_file: true)",
            )
        return None
    return _parsed(data, done)


def check_complete(control: ControlFile, data: Path, rows: int | None, sha256: str) -> None:
    """Raise ``IncompleteFileError`` (FILE_INCOMPLETE) when the data file's rows (None: the
    file could not be read) or sha256 differ from its control file's."""
    if sha256 == control.sha256 and rows in (None, control.rows):
        return  # unreadable as sent: its own gate (FILE_UNREADABLE ...) says why
    raise IncompleteFileError(data.name, control.name, control.rows, rows, control.sha256, sha256)
