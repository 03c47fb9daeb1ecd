"""Modes of everything the pipeline writes under data_root (DESIGN.md §5b "Owner-only by
default"): files 0600 and folders 0700 whatever the caller's umask, or 0640 / 0750 when
``config/execution.yaml`` grants the data_root's group read (``file_group_read``).

Two mechanisms, both set once per process by ``set_permissions`` at each entry point (the CLI's
``main``, an Airflow task's ``run_task``): the process umask, for the files libraries write
themselves (GX's stores and Data Docs, DuckDB's warehouse, Polars' Parquet, Airflow's home) in
this process and the ones it starts; and explicit modes for the writes of ``loanrisk.lake``
(``make_dirs``, ``append_line``, ``storage.write_file_atomic``, ``storage.write_partition``),
which hold even for a caller that never went through an entry point.
A data_root an older version wrote keeps its looser modes until each file is rewritten, so a
run tightens the existing tree once per policy (``tighten_once``, from
``storage.enter_data_root``): never loosening, never following a symlink, leaving the landing
folder (the lending core's) alone, and recording the policy applied in ``state/modes.json``.
Import-light: no Polars (the CLI and the DAG files import it early).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable
from functools import partial
from pathlib import Path

#: Modes of what the pipeline writes under data_root (DESIGN.md §5b): (file, folder) bits,
#: owner-only unless execution.yaml's file_group_read grants the group read.
OWNER_ONLY_MODES = (0o600, 0o700)
GROUP_READ_MODES = (0o640, 0o750)
#: The marker under ``state/`` naming the policy the existing tree was last tightened to.
MODES_MARKER = "modes.json"
#: The zone whose files stay owner-only when the group may read: extracts hold each channel's
#: personal data (``lake.extracts``).
OWNER_ONLY_ZONE = "extracts"
#: Folder bits a tightening keeps: setgid (the group new files inherit, the operator's choice)
#: and sticky (only restricts).
_KEPT_FOLDER_BITS = stat.S_ISGID | stat.S_ISVTX
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


def modes_policy() -> dict[str, str]:
    """The modes this process writes with (``set_permissions``), as the marker records them."""
    return {
        "file": oct(_modes["file"]),
        "folder": oct(_modes["dir"]),
        "extracts_file": oct(OWNER_ONLY_MODES[0]),
    }


def _tighten(counts: dict[str, int], found: os.stat_result, allowed: int, chmod) -> None:
    """Take away the bits of ``found`` beyond ``allowed`` (never add one); a file another
    account owns cannot be changed and is counted instead."""
    mode = stat.S_IMODE(found.st_mode)
    if not mode & ~allowed:
        return
    if found.st_uid != os.geteuid():
        counts["not_owned"] += 1
        return
    try:
        chmod(mode & allowed)
    except (FileNotFoundError, ValueError):
        # Gone (a concurrent write's temporary, renamed), or swapped for a symlink since its
        # lstat: CPython reports fchmodat's refusal to follow it as a ValueError.
        return
    counts["tightened"] += 1


def tighten_tree(root: Path, skip: Path, modes: tuple[int, int]) -> dict[str, int]:
    """Tighten every folder and regular file under ``root`` (``root`` included) to the
    ``(file, folder)`` modes, files under ``extracts/`` to owner-only: bits beyond the policy
    are taken away, none added. ``skip`` (the landing folder) is not entered, symlinks are
    neither followed nor changed (``os.fwalk`` holds each folder open; files are changed by
    ``fchmodat`` without following). Returns the counts tightened and not owned."""
    file_bits, folder_bits = modes
    counts = {"tightened": 0, "not_owned": 0}
    skipped = os.path.abspath(skip)
    for folder, folders, files, fd in os.fwalk(root, follow_symlinks=False):
        if os.path.abspath(folder) == skipped:
            folders[:] = []
            continue
        folders[:] = [f for f in folders if os.path.abspath(os.path.join(folder, f)) != skipped]
        _tighten(counts, os.fstat(fd), folder_bits | _KEPT_FOLDER_BITS, partial(os.fchmod, fd))
        zone = os.path.relpath(folder, root).split(os.sep)[0]
        allowed = OWNER_ONLY_MODES[0] if zone == OWNER_ONLY_ZONE else file_bits
        for name in files:
            found = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISREG(found.st_mode):
                chmod = partial(os.chmod, name, dir_fd=fd, follow_symlinks=False)
                _tighten(counts, found, allowed, chmod)
    return counts


def _recorded_policy(marker: Path) -> dict | None:
    """The policy a marker records; none when it is missing or unreadable (walk again)."""
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("policy")
    except (OSError, ValueError, AttributeError):
        return None


def tighten_once(
    data_root: Path, landing_dir: Path, marker: Path, write: Callable[[dict, Path], object]
) -> dict[str, int] | None:
    """Tighten ``data_root``'s existing tree to this process's modes unless ``marker`` records
    that policy already; then record it with ``write`` (``storage.write_json_atomic``).
    Returns the walk's counts, or None when it was skipped."""
    policy = modes_policy()
    if _recorded_policy(marker) == policy:
        return None
    counts = tighten_tree(data_root, landing_dir, (_modes["file"], _modes["dir"]))
    write({"policy": policy, **counts}, marker)
    return counts
