"""The run lock of an ``s3://`` data_root (``loanrisk.lake.object_store``): the object
``.loanrisk-run.lock`` at the prefix, created by a conditional write (``If-None-Match: *``,
honoured by AWS S3 and SeaweedFS: exactly one of concurrent creators wins) and deleted on
release. It holds the holder's details (pid, host, day, purpose, since), its expiry and a token.

A second writer gets ``RunLockedError`` (``RUN_LOCKED``), after polling ``timeout`` seconds. A
lock past its ttl, or left by a process of this host that is gone (SIGKILL, OOM), is stale:
``StaleLockError`` (``RUN_LOCK_STALE``) unless ``break_stale`` (``--break-stale-lock``; an
Airflow task), which deletes it and races for it like any other writer. Release deletes the
object only while it still holds our token.

``held`` (what ``working_copy`` uses) keeps the lock fresh while the block runs: a daemon thread
rewrites it every third of its ttl with a new expiry, conditionally on its ETag (``If-Match``)
and only while it still holds our token, so a task that runs longer than the ttl is never broken
as stale by a waiter on another host (the dead-pid rule only sees processes of this host); a
process that is gone stops refreshing and its lock expires a ttl later.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from loanrisk.errors import RunLockedError, StaleLockError, _rebuilt
from loanrisk.lake.locks import pid_alive
from loanrisk.lake.object_store import LOCK_NAME, ObjectRoot

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
#: The heartbeat rewrites the lock this many times per ttl: two refreshes may fail in a row
#: (a slow store) before a waiter could count it stale.
REFRESHES_PER_TTL = 3


class StoreLock:
    """The run lock of one ``ObjectRoot``."""

    def __init__(self, root: ObjectRoot):
        self.root = root

    def acquire(
        self,
        business_date: str,
        purpose: str,
        ttl_seconds: float,
        timeout: float = 0.0,
        break_stale: bool = False,
    ) -> dict:
        """Create the lock object if nobody holds it (``If-None-Match: *``); returns our record.
        Held by a live run: ``RunLockedError`` (after polling ``timeout`` seconds). Past its
        ttl, or its process gone (same host): ``StaleLockError``, or taken over with
        ``break_stale``."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "business_date": business_date,
            "purpose": purpose,
            "since": now.isoformat().replace("+00:00", "Z"),
            "expires": (now + dt.timedelta(seconds=ttl_seconds)).timestamp(),
            "token": uuid.uuid4().hex,
        }
        body = json.dumps(record, sort_keys=True).encode("utf-8")
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.root.fs.pipe_file(self.root.key(LOCK_NAME), body, mode="create")
                return record
            except OSError as exc:  # s3fs: EINVAL for 412 Precondition Failed
                holder = self.holder()
                if holder is None and not _refused_as_existing(exc):
                    raise  # not a held lock: no access, no bucket, no endpoint
            if holder is not None and dead(holder):
                if not break_stale:
                    raise self._stale(holder)
                self.root.fs.rm(self.root.key(LOCK_NAME))  # then race for it like anyone else
                continue
            if time.monotonic() >= deadline:
                raise self._locked(holder, timeout)
            time.sleep(POLL_SECONDS)

    @contextmanager
    def held(
        self,
        business_date: str,
        purpose: str,
        ttl_seconds: float,
        timeout: float = 0.0,
        break_stale: bool = False,
    ) -> Iterator[dict]:
        """``acquire``, kept fresh by a heartbeat while the block runs, then ``release``."""
        record = self.acquire(business_date, purpose, ttl_seconds, timeout, break_stale)
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(record, ttl_seconds, stop), daemon=True
        )
        beat.start()
        try:
            yield record
        finally:
            stop.set()
            beat.join()
            self.release(record)

    def _heartbeat(self, record: dict, ttl_seconds: float, stop: threading.Event) -> None:
        """Refresh the lock every ``ttl / REFRESHES_PER_TTL`` seconds until ``stop``, or until
        it is no longer ours (taken over: never written over)."""
        while not stop.wait(ttl_seconds / REFRESHES_PER_TTL):
            try:
                if not self.refresh(record, ttl_seconds):
                    log.warning("%s: the run lock is no longer ours; not refreshed", self.root.url)
                    return
            except OSError as exc:  # a store that does not answer: try again next beat
                log.warning("%s: run lock not refreshed: %s", self.root.url, exc)

    def refresh(self, record: dict, ttl_seconds: float) -> bool:
        """Rewrite our lock with an expiry ``ttl_seconds`` from now (``since`` kept), only if
        the object is still ours: its token read, then written back ``If-Match`` its ETag.
        False when it is gone or another's."""
        key = self.root.key(LOCK_NAME)
        try:
            etag = self.root.fs.info(key)["ETag"]
            current = json.loads(self.root.fs.cat_file(key))
        except (FileNotFoundError, ValueError):
            return False
        if current.get("token") != record["token"]:
            return False
        renewed = {**record, "expires": time.time() + ttl_seconds}
        body = json.dumps(renewed, sort_keys=True).encode("utf-8")
        try:
            self.root.fs.pipe_file(key, body, IfMatch=etag)
        except OSError as exc:
            if _refused_as_existing(exc):
                return False  # replaced between our read and write
            raise
        return True

    def release(self, record: dict) -> None:
        """Delete the lock object if it is still ours (a breaker may have taken it)."""
        holder = self.holder()
        if holder is not None and holder.get("token") == record["token"]:
            self.root.fs.rm(self.root.key(LOCK_NAME))

    def holder(self) -> dict | None:
        try:
            return json.loads(self.root.fs.cat_file(self.root.key(LOCK_NAME)))
        except FileNotFoundError:
            return None
        except ValueError:
            return {"pid": 0, "host": "?", "business_date": "?", "purpose": "?", "since": "?"}

    def _locked(self, holder: dict | None, waited: float) -> RunLockedError:
        who = _describe(holder) if holder else "another process (details not written yet)"
        after = f" after waiting {waited:g}s" if waited else ""
        message = (
            f"{self.root.url}: another run holds the run lock{after}: {who}; wait for it to finish "
            f"(lock object {self.root.url}/{LOCK_NAME})"
        )
        details = {"lock_file": f"{self.root.url}/{LOCK_NAME}", "holder": who, "waited": waited}
        return _rebuilt(RunLockedError, message, details)

    def _stale(self, holder: dict) -> StaleLockError:
        message = (
            f"stale run lock left by {_describe(holder)}: that run died mid-way (its process "
            f"is gone or its ttl expired); check it, then rerun with --break-stale-lock "
            f"(lock object {self.root.url}/{LOCK_NAME})"
        )
        details = {"lock_file": f"{self.root.url}/{LOCK_NAME}", "holder": holder, "state": "dead"}
        return _rebuilt(StaleLockError, message, details)


def _refused_as_existing(exc: OSError) -> bool:
    """The conditional create lost: the object exists (412), or another conditional write to
    it was in flight (409 on AWS S3)."""
    text = f"{exc} {exc.__cause__!r}".lower()
    return isinstance(exc, FileExistsError) or any(
        word in text for word in ("pre-condition", "precondition", "conditionalrequestconflict")
    )


def dead(holder: dict) -> bool:
    """A lock past its ttl, or held by a process of this host that is gone (SIGKILL, OOM)."""
    if holder.get("expires", 0) < time.time():
        return True
    return holder.get("host") == socket.gethostname() and not pid_alive(int(holder["pid"]))


def _describe(holder: dict) -> str:
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('purpose')} "
        f"{holder.get('business_date')}) since {holder.get('since')}"
    )
