"""One Great Expectations context shared by processes that validate at once: its writes are
taken in turn."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def setup_lock(gx_root: Path) -> Iterator[None]:
    """Hold ``<gx_root>.lock`` (an exclusive ``flock``): the K shard tasks of a day validate at
    once in separate processes, and GX writes its config, suites and definitions in place
    (a reader could meet a half-written file, two writers interleave), and the archive moves
    folders another task may be moving. Validation itself writes only its own run's results."""
    gx_root.parent.mkdir(parents=True, exist_ok=True)
    with open(gx_root.with_name(f"{gx_root.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
