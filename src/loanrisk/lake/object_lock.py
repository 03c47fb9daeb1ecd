"""The run lock of an ``s3://`` data_root (``loanrisk.lake.object_store``): the object
``.loanrisk-run.lock`` at the prefix, created by a conditional write (``If-None-Match: *``,
honoured by AWS S3 and SeaweedFS: exactly one of concurrent creators wins) and deleted on
release. It holds the holder's details (pid, host, day, purpose, since), its expiry and a token.

A second writer gets ``RunLockedError`` (``RUN_LOCKED``), after polling ``timeout`` seconds. A
lock past its ttl, or left by a process of this host that is gone (SIGKILL, OOM), is stale:
``StaleLockError`` (``RUN_LOCK_STALE``) unless ``break_stale`` (``--break-stale-lock``; an
Airflow task), which deletes it and races for it like any other writer. Release deletes the
object only while it still holds our token.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
import uuid

from loanrisk.errors import RunLockedError, StaleLockError, _rebuilt
from loanrisk.lake.locks import pid_alive
from loanrisk.lake.object_store import LOCK_NAME, ObjectRoot

POLL_SECONDS = 0.5


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
