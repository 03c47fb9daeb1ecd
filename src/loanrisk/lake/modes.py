"""Modes of everything the pipeline writes under data_root (DESIGN.md §5b "Owner-only by
default"): files 0600 and folders 0700 whatever the caller's umask, or 0640 / 0750 when
``config/execution.yaml`` grants the data_root's group read (``file_group_read``).

Two mechanisms, both set once per process by ``set_permissions`` at each entry point (the CLI's
``main``, an Airflow task's ``run_task``): the process umask, for the files libraries write
themselves (GX's stores and Data Docs, DuckDB's warehouse, Polars' Parquet, Airflow's home) in
this process and the ones it starts; and explicit modes for the writes of ``loanrisk.lake``
(``make_dirs``, ``append_line``, ``storage.write_file_atomic``, ``storage.write_partition``),
which hold even for a caller that never went through an entry point.
Import-light: no Polars (the CLI and the DAG files import it early).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: Modes of what the pipeline writes under data_root (DESIGN.md §5b): (file, folder) bits,
#: owner-only unless execution.yaml's file_group_read grants the group read.
OWNER_ONLY_MODES = (0o600, 0o700)
GROUP_READ_MODES = (0o640, 0o750)
#: The process's current modes: set with the umask by ``set_permissions`` at each entry point.
_modes = {"file": 0o600, "dir": 0o700}


def set_permissions(group_read: bool = False) -> tuple[int, bool]:
    """Make everything this process (and the processes it starts: GX's, DuckDB's, Airflow's)
    creates from now on owner-only, or group-readable when ``group_read``, whatever the
    caller's umask: the umask for files written by libraries, the modes the writes here set
    explicitly. Returns the previous state for ``restore_permissions``."""
    previous = (os.umask(0o027 if group_read else 0o077), _modes["file"] == 0o640)
    _modes["file"], _modes["dir"] = GROUP_READ_MODES if group_read else OWNER_ONLY_MODES
    return previous


def restore_permissions(previous: tuple[int, bool]) -> None:
    """Put back the umask and modes ``set_permissions`` returned."""
    os.umask(previous[0])
    _modes["file"], _modes["dir"] = GROUP_READ_MODES if previous[1] else OWNER_ONLY_MODES


@contextlib.contextmanager
def owner_only():
    """Owner-only files for the block (``set_permissions`` may grant group read inside), the
    umask and modes as they were after it."""
    previous = set_permissions(False)
    try:
        yield
    finally:
        restore_permissions(previous)


def file_mode() -> int:
    """The mode of a file created now: 0600, or 0640 with group read."""
    return _modes["file"]


def make_dirs(path: Path) -> Path:
    """``path`` and its missing parents, each created with the folder mode whatever the
    umask (``Path.mkdir(parents=True)`` gives parents the umask's mode)."""
    missing = []
    while not path.is_dir() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
            os.chmod(folder, _modes["dir"])
    return missing[0] if missing else path


def append_line(path: Path, text: str) -> None:
    """Append one line to a log file (created with the file mode whatever the umask)."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _modes["file"])
    with open(fd, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
