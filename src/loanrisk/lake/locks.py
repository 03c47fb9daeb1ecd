"""The run lock of a data_root: one writing run at a time (DESIGN.md §12).

Design:

- **One lock per data_root**, not per business date: rerunning a day recomputes the later stored
  days (``recompute_later_days``) and rebuilds the shared ``warehouse.duckdb``, so two runs of
  *different* dates write the same files too. The lock file is ``<data_root>/.loanrisk-run.lock``.
- **``fcntl.flock``** on that file: the kernel releases it when the holder dies, so a lock is
  never held by a dead process. While held, the file holds the holder's details as JSON (pid,
  host, date, purpose, since) for the refusal message; a clean release empties it. The file is
  never deleted (deleting a flock file races with the next opener).
- **Refuse by default**: a second run fails at once with ``RunLockedError`` (``RUN_LOCKED``)
  naming the holder. ``timeout=`` seconds waits for the lock first (polling).
- **Stale lock** = the file still holds a holder's details but nobody holds the flock: that run
  died mid-way (SIGKILL, OOM, power cut). It is reported with ``StaleLockError``
  (``RUN_LOCK_STALE``) and not taken, so an operator looks at what the dead run left before the
  next one runs; ``break_stale=True`` (CLI ``--break-stale-lock``) takes it over, logs a warning
  and reports the dead holder in ``RunLock.broke_stale``.
- **Re-entrant within a process**: a backfill holding the lock may call ``run_day`` which takes it
  again. A forked child does not inherit the parent's hold.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from loanrisk.errors import RunLockedError, StaleLockError
from loanrisk.lake.modes import file_mode, make_dirs
from loanrisk.lake.storage import Lake

POLL_SECONDS = 0.1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a run lock."""

    pid: int
    host: str
    business_date: str
    purpose: str
    since: str

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.host} ({self.purpose} {self.business_date}) "
            f"since {self.since}"
        )

    def running(self) -> bool | None:
        """Whether the pid is alive; None when it ran on another host (cannot tell)."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)


@dataclass(frozen=True)
class RunLock:
    """A held run lock: who we are, and the dead holder we took over (if any)."""

    path: Path
    holder: Holder
    broke_stale: Holder | None = None


_held: dict[Path, tuple[int, RunLock, list[int]]] = {}  # path -> (pid, lock, [depth])


def lock_path(lake: Lake) -> Path:
    return lake.run_lock_file


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path) -> Holder | None:
    """The holder details in a lock file (None when empty, missing or unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
        return Holder(**json.loads(text)) if text.strip() else None
    except (OSError, ValueError, TypeError):
        return None


@contextmanager
def run_lock(
    lake: Lake,
    business_date: dt.date | str,
    *,
    purpose: str = "run",
    timeout: float = 0.0,
    break_stale: bool = False,
) -> Iterator[RunLock]:
    """Hold the data_root's run lock for the block (see the module docstring)."""
    path = lock_path(lake)
    held = _held.get(path)
    if held is not None and held[0] == os.getpid():
        held[2][0] += 1
        try:
            yield held[1]
        finally:
            held[2][0] -= 1
        return
    fd = _acquire(path, timeout)
    try:
        lock = _claim(fd, path, str(business_date), purpose, break_stale)
        if lock.broke_stale is not None:  # the dead run's reruns: put their days back first
            from loanrisk.lake.versions import recover

            recover(lake)
        _held[path] = (os.getpid(), lock, [1])
        try:
            yield lock
        finally:
            del _held[path]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _acquire(path: Path, timeout: float) -> int:
    """Open the lock file and flock it, polling until ``timeout``; RunLockedError if not."""
    make_dirs(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
        if time.monotonic() >= deadline:
            os.close(fd)
            raise _busy_error(path, timeout)
        time.sleep(POLL_SECONDS)


def _busy_error(path: Path, timeout: float) -> RunLockedError:
    holder = None
    for _ in range(5):  # the holder writes its details just after taking the flock
        if (holder := read_holder(path)) is not None:
            break
        time.sleep(0.05)
    return RunLockedError(path, holder.describe() if holder else None, timeout)


def _claim(fd: int, path: Path, business_date: str, purpose: str, break_stale: bool) -> RunLock:
    """With the flock held: refuse or take over a stale record, then write ours."""
    stale = read_holder(path)
    if stale is None and os.fstat(fd).st_size:
        stale = Holder(0, "?", "?", "unreadable lock record", "?")
    if stale is not None and not break_stale:
        raise _stale_error(path, stale)
    if stale is not None:
        log.warning("breaking %s", _stale_error(path, stale).message.split(";")[0])
    since = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    holder = Holder(os.getpid(), socket.gethostname(), business_date, purpose, since)
    data = json.dumps(asdict(holder), sort_keys=True).encode("utf-8") + b"\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)
    return RunLock(path, holder, stale)


def _stale_error(path: Path, stale: Holder) -> StaleLockError:
    state = {False: "not running", True: "running but no longer holding it", None: "unknown"}
    return StaleLockError(path, asdict(stale), state[stale.running()])


def stale_holder(lake: Lake) -> Holder | None:
    """The holder a dead run left in the lock file (None when the lock is free and clean, or
    held by a live run)."""
    path = lock_path(lake)
    holder = read_holder(path)
    if holder is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return None  # a live run holds it
    finally:
        os.close(fd)
    return holder
