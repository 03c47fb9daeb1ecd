"""The hook that runs a command or an Airflow task on an ``s3://`` data_root (DESIGN.md §8).

``working_copy`` is the one context manager the entry points call: take the store's run lock
(kept fresh by a heartbeat while the block runs), pull the committed state into a local folder
(``execution.yaml`` ``object_store_cache``, else ``~/.cache/loanrisk/object-store``; one folder
per URL for the runs that hold the lock, so the absolute paths GX and the warehouse keep stay
right from run to run), run there, push (manifests last), release. A shard task takes no store
lock (``unlocked``, ``loanrisk.lake.unlocked_push``): it pulls into a spare folder of its own
(``<folder>-task<i>``, the first no other task of this machine holds), runs, and pushes only its
own shard's files. Each folder is held by one task at a time (a ``flock`` on ``<folder>.lock``),
so two tasks of one worker never pull into or write the same files. The readers' side:
``reader_copy`` (what ``loanrisk status`` reads: the run manifests, i.e. the committed days,
and the names of landed files and reports) and ``connect_store_warehouse`` (the BI views read
straight from the store through ``duckdb.register_filesystem``).
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loanrisk.config import EXECUTION_FILE, ExecutionConfig, PipelineConfig, default_config_dir
from loanrisk.domain.sql import quote
from loanrisk.domain.yaml_models import load_yaml_model
from loanrisk.lake.modes import make_dirs
from loanrisk.lake.object_lock import StoreLock, dead
from loanrisk.lake.object_store import LOCK_NAME, ObjectRoot, is_object_url
from loanrisk.lake.unlocked_push import UnlockedWrites, push_unlocked

log = logging.getLogger(__name__)

#: The working copies' folder when execution.yaml sets none.
DEFAULT_CACHE = Path("~/.cache/loanrisk/object-store")


def object_url(config_dir: Path | None, data_root: str | None) -> str | None:
    """The ``s3://`` data_root a command or task is given (``data_root`` overrides
    pipeline.yaml's), else None: a local data_root needs no working copy."""
    if data_root is not None:
        return str(data_root) if is_object_url(data_root) else None
    config = Path(config_dir or default_config_dir())
    configured = load_yaml_model(config / "pipeline.yaml", PipelineConfig).data_root
    return configured if is_object_url(configured) else None


def cache_folder(config_dir: Path | None, url: str) -> tuple[Path, float]:
    """(the local copy's folder for ``url``, the store lock's ttl in seconds)."""
    execution = load_yaml_model(
        Path(config_dir or default_config_dir()) / EXECUTION_FILE, ExecutionConfig
    )
    base = (execution.object_store_cache or DEFAULT_CACHE).expanduser()
    name = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]
    return base / name, execution.object_store_lock_ttl_minutes * 60


@contextmanager
def claimed(folder: Path, spare: bool = False) -> Iterator[Path]:
    """``folder`` held by this task alone (waiting for the task of this machine that holds
    it), or with ``spare`` the first of ``<folder>-task1``, ``-task2``... that no task holds
    (kept for the next task: its pull is incremental). The hold is a ``flock`` on
    ``<folder>.lock``: the kernel drops it when the process dies."""
    make_dirs(folder.parent)
    names = (f"{folder.name}-task{i}" for i in itertools.count(1)) if spare else [folder.name]
    for name in names:
        handle = open(folder.with_name(f"{name}.lock"), "a")  # noqa: SIM115  held while yielding
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if spare else 0))
        except BlockingIOError:
            handle.close()
            continue  # another task of this machine works in it
        try:
            yield folder.with_name(name)
        finally:
            handle.close()  # releases the flock
        return


@contextmanager
def working_copy(
    url: str,
    config_dir: Path | None,
    *,
    business_date: str,
    purpose: str,
    timeout: float = 0.0,
    break_stale: bool = False,
    conn_id: str | None = None,
    days: tuple[str, ...] = (),
    unlocked: UnlockedWrites | None = None,
) -> Iterator[Path]:
    """Lock, pull, yield the local data_root, push, release (module docstring). ``days``: the
    business days the block works on, pulled even while uncommitted (an Airflow day's tasks
    hand each other its files through the store). A block that raises still pushes what it
    wrote (a failed day's manifest is its record); the lock is released either way.
    ``unlocked``: no store lock, a spare folder, and only the task's own files pushed, and
    only when the block succeeds."""
    root = ObjectRoot(url, conn_id=conn_id)
    folder, ttl = cache_folder(config_dir, url)
    if unlocked is not None:
        with claimed(folder, spare=True) as local:
            _pulled(root, local, days)
            yield local / "data"
            _log_push(url, push_unlocked(root, local, unlocked))
        return
    lock = StoreLock(root)
    with lock.held(business_date, purpose, ttl, timeout, break_stale), claimed(folder) as local:
        _pulled(root, local, days)
        try:
            yield local / "data"
        finally:
            _log_push(url, root.push(local))


def _pulled(root: ObjectRoot, local: Path, days: tuple[str, ...]) -> None:
    pulled = root.pull(make_dirs(local), days)
    log.info(
        "pulled %s into %s: %d files, %d bytes in %.2fs",
        root.url,
        local,
        pulled.files,
        pulled.bytes,
        pulled.seconds,
    )


def _log_push(url: str, pushed) -> None:
    log.info(
        "pushed %s: %d files, %d bytes, %d deleted in %.2fs",
        url,
        pushed.files,
        pushed.bytes,
        pushed.deleted,
        pushed.seconds,
    )


@contextmanager
def task_copy(
    params: dict,
    ds: str,
    purpose: str,
    timeout: float,
    *,
    shard: int | None = None,
    read_only: bool = False,
) -> Iterator[dict]:
    """An Airflow task's params, on an ``s3://`` data_root with ``data_root`` naming the
    working copy for the block (the run's ``aws_conn_id`` connection, else the environment,
    gives the credentials); unchanged otherwise. A task takes the store's lock, waiting
    ``timeout`` seconds (a lock whose task was killed is taken over, as the local run lock
    is), except a shard task (``shard``: its number), which pushes only its own shard's files,
    and a task that only reads (``read_only``), which pushes nothing: they run side by side."""
    url = object_url(params.get("config_dir"), params.get("data_root"))
    if url is None:
        yield params
        return
    unlocked = UnlockedWrites(purpose, shard) if shard is not None or read_only else None
    copy = working_copy(
        url,
        params.get("config_dir"),
        business_date=ds,
        purpose=purpose,
        timeout=timeout,
        break_stale=True,
        conn_id=params.get("aws_conn_id"),
        days=(ds,),
        unlocked=unlocked,
    )
    with copy as local:
        yield {**params, "data_root": str(local)}


@contextmanager
def reader_copy(url: str, conn_id: str | None = None) -> Iterator[Path]:
    """A temporary data_root holding what ``loanrisk status`` reads of ``url``: the run
    manifests (committed days only: a day without one is not on the store for a reader) and,
    empty, the landed loans files and risk reports (status reads their names only)."""
    root = ObjectRoot(url, conn_id=conn_id)
    listing = root.listing()
    committed = root.committed_days(listing)
    with tempfile.TemporaryDirectory(prefix="loanrisk-status-") as folder:
        data = Path(folder) / "data"
        make_dirs(data / "landing")
        manifests = [f"runs/{day}/manifest.json" for day in sorted(committed)]
        for rel in manifests:
            make_dirs((data / rel).parent)
        if manifests:
            root.fs.get([root.key(r) for r in manifests], [str(data / r) for r in manifests])
        for rel in listing:
            named = rel.startswith("landing/loans_") or rel.endswith("/risk_report.html")
            if named and (rel.startswith("landing/") or rel.split("/")[1] in committed):
                make_dirs((data / rel).parent)
                (data / rel).touch()
        _note_dead_lock(StoreLock(root), data)
        yield data


def _note_dead_lock(lock: StoreLock, data: Path) -> None:
    """A store lock left by a dead run, written where ``status`` looks for a stale local one
    (the holder's details only)."""
    holder = lock.holder()
    if holder is not None and dead(holder):
        fields = ("pid", "host", "business_date", "purpose", "since")
        text = json.dumps({name: holder.get(name, "?") for name in fields})
        (data / LOCK_NAME).write_text(text, encoding="utf-8")


#: A view's file argument, relative to the data_root (``read_parquet('lake/...'``).
_RELATIVE_SOURCE = re.compile(r"(read_(?:parquet|json)\()'(?![a-z0-9]+://)([^']*)'")


def connect_store_warehouse(url: str, conn_id: str | None = None):
    """The store's warehouse as a BI reader sees it: an in-memory DuckDB with the s3
    filesystem registered and each view of the store's ``warehouse.duckdb`` created again over
    the objects (its relative paths prefixed with the URL: DuckDB's ``file_search_path`` does
    not apply to a registered filesystem). Published days only: a day is published by its
    manifest, which is uploaded last."""
    import duckdb

    root = ObjectRoot(url, conn_id=conn_id)
    with tempfile.TemporaryDirectory(prefix="loanrisk-warehouse-") as folder:
        local = Path(folder) / "warehouse.duckdb"
        root.fs.get(root.key("warehouse.duckdb"), str(local))
        with duckdb.connect(str(local), read_only=True) as stored:
            views = stored.execute(
                "SELECT sql FROM duckdb_views() WHERE NOT internal ORDER BY view_oid"
            ).fetchall()
    con = duckdb.connect()
    con.register_filesystem(root.fs)
    pending = [_RELATIVE_SOURCE.sub(lambda m: _absolute(root, m), sql) for (sql,) in views]
    while pending:  # a view over another view (marts over the lake's) after it
        failed = []
        for statement in pending:
            try:
                con.execute(statement)
            except duckdb.CatalogException:
                failed.append(statement)
        if len(failed) == len(pending):
            con.execute(failed[0])  # raises: a view over one that does not exist
        pending = failed
    return con


def _absolute(root: ObjectRoot, found: re.Match) -> str:
    return f"{found[1]}{quote(f'{root.url}/{found[2]}')}"
