"""The data_root run lock: refusal naming the holder, release, waiting,
stale-lock detection, re-entrancy."""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from loanrisk.errors import RunLockedError, StaleLockError
from loanrisk.lake.locks import lock_path, read_holder, run_lock
from loanrisk.lake.storage import Lake

DAY = dt.date(2026, 5, 2)

HOLDER = """
import datetime as dt, sys
from pathlib import Path
from loanrisk.lake.locks import run_lock
from loanrisk.lake.storage import Lake
root = Path(sys.argv[1])
with run_lock(Lake(root, root / "landing"), dt.date(2026, 5, 2), purpose="run"):
    print("held", flush=True)
    sys.stdin.read()  # hold until the test closes stdin (or kills us)
"""


@pytest.fixture
def lake(tmp_path):
    return Lake(tmp_path / "data", tmp_path / "data" / "landing")


@pytest.fixture
def holder(lake):
    """A subprocess holding the run lock until its stdin is closed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lake.data_root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    assert proc.wait(10) == 0


def test_second_run_is_refused_naming_the_holder(lake, holder):
    with pytest.raises(RunLockedError) as caught, run_lock(lake, DAY):
        pytest.fail("took a lock held by another process")
    message = str(caught.value)
    assert message.startswith("[RUN_LOCKED] ") and "\n" not in message
    assert f"pid {holder.pid} on {socket.gethostname()}" in message
    assert "(run 2026-05-02) since 20" in message
    assert str(lock_path(lake)) in message


def test_lock_is_free_after_the_holder_exits(lake, holder):
    release(holder)
    assert read_holder(lock_path(lake)) is None  # a clean release empties the record
    with run_lock(lake, DAY, purpose="backfill") as lock:
        assert lock.holder.pid != holder.pid and lock.broke_stale is None
        assert read_holder(lock_path(lake)).purpose == "backfill"
    assert read_holder(lock_path(lake)) is None


def test_waiting_run_gets_the_lock_when_the_holder_finishes(lake, holder):
    threading.Timer(0.5, holder.stdin.close).start()
    started = time.monotonic()
    with run_lock(lake, DAY, timeout=20) as lock:
        assert lock.holder.pid != holder.pid
    assert 0.3 < time.monotonic() - started < 20


def test_waiting_run_gives_up_after_its_timeout(lake, holder):
    with (
        pytest.raises(RunLockedError, match=r"after waiting 0\.3s: pid"),
        run_lock(lake, DAY, timeout=0.3),
    ):
        pass


def test_lock_of_a_killed_run_is_reported_stale_not_broken(lake, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    with pytest.raises(StaleLockError) as caught, run_lock(lake, DAY):
        pytest.fail("silently broke a stale lock")
    message = str(caught.value)
    assert message.startswith("[RUN_LOCK_STALE] stale run lock left by pid ")
    assert f"pid {holder.pid} on {socket.gethostname()} (not running;" in message
    assert "--break-stale-lock" in message and str(lock_path(lake)) in message
    assert read_holder(lock_path(lake)).pid == holder.pid  # the record is kept for the operator
    with run_lock(lake, DAY, break_stale=True) as lock:
        assert lock.broke_stale is not None and lock.broke_stale.pid == holder.pid
    with run_lock(lake, DAY) as lock:  # released cleanly: no longer stale
        assert lock.broke_stale is None


def test_record_of_a_dead_pid_without_a_flock_is_stale(lake):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    record = {
        "pid": int(dead.stdout),
        "host": socket.gethostname(),
        "business_date": "2026-05-01",
        "purpose": "run",
        "since": "2026-05-01T02:00:00Z",
    }
    lock_path(lake).parent.mkdir(parents=True)
    lock_path(lake).write_text(json.dumps(record))
    with (
        pytest.raises(StaleLockError, match=r"since 2026-05-01T02:00:00Z; that run died"),
        run_lock(lake, DAY),
    ):
        pass


def test_lock_is_reentrant_within_a_process(lake):
    with run_lock(lake, DAY, purpose="backfill") as outer:
        with run_lock(lake, DAY) as inner:
            assert inner is outer
        assert read_holder(lock_path(lake)).purpose == "backfill"  # still held by the outer
    assert read_holder(lock_path(lake)) is None
