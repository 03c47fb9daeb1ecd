"""A data_root on S3-compatible object storage (``s3://bucket/prefix``, DESIGN.md §8).

The lake's write path is POSIX (atomic renames, flock, hard links for restatement shadows), so
a run works on a **local working copy** committed to the store, the way a batch worker runs on
a scratch disk (``loanrisk.lake.working_copy`` is the hook):

- ``pull`` brings the local copy to the committed state: every object of the prefix except the
  files of days not committed (a day is committed when ``runs/D/manifest.json`` is on the
  store), incrementally by size and ETag; local files the store does not have are deleted.
- ``push`` uploads what changed since the pull, the run manifests last (in date order): a
  process killed before a day's manifest leaves that day invisible to every reader. A day whose
  manifest is about to be replaced is uncommitted first (its old manifest deleted), so a reader
  never sees a day's new files under its old manifest.
- ``push_files`` uploads only the files named (a shard task, which runs without the lock:
  ``loanrisk.lake.unlocked_push``).
- The run lock is the object ``.loanrisk-run.lock`` (``loanrisk.lake.object_lock``).

Credentials come from the environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``AWS_REGION``) or an Airflow connection named
by the run (``aws_conn_id``); never from config: a data_root URL carrying a key is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from loanrisk.errors import ConfigError
from loanrisk.lake.faults import crash_point
from loanrisk.lake.modes import make_dirs

LOCK_NAME = ".loanrisk-run.lock"
INDEX_NAME = ".object-store.json"
_MANIFEST = re.compile(r"^runs/(\d{4}-\d{2}-\d{2})/manifest\.json$")
_DATE = r"\d{4}-\d{2}-\d{2}"
#: Where a day's own files are (the day is group 1): its partitions and their state records,
#: its extracts, reports and run records.
_DAY_FILE = re.compile(
    rf"^(?:(?:lake|state)/.*?snapshot_date=({_DATE})(?:[/.]|$)"
    rf"|extracts/(?:.*/)?({_DATE})/|reports/({_DATE})/|runs/({_DATE})/)"
)


def is_object_url(value: object) -> bool:
    """True for a data_root on object storage (``s3://...``); paths and ``file://`` are local."""
    text = str(value)
    return "://" in text and text.split("://", 1)[0] not in ("file", "local")


def refuse_credentials(url: str, key: str = "data_root") -> None:
    """A URL holding a key or secret (``s3://KEY:SECRET@bucket``) is refused, naming the key:
    credentials live in the environment or an Airflow connection, never in config."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigError(
            f"{key}: {parts.scheme}:// is not supported; a data_root is a path, a file:// URL "
            "or s3://bucket/prefix",
            key=key,
        )
    if "@" in parts.netloc or parts.username or parts.password:
        raise ConfigError(
            f"{key}: the s3:// URL holds credentials; give them in the environment "
            "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or an Airflow connection (aws_conn_id), "
            "never in a config file",
            key=key,
        )
    if not parts.netloc:
        raise ConfigError(f"{key}: {url} names no bucket (s3://bucket/prefix)", key=key)


def filesystem(conn_id: str | None = None):
    """An s3fs filesystem with credentials from the environment, or from the Airflow connection
    ``conn_id`` (login, password, extra ``endpoint_url`` / ``region_name``). Listings are never
    cached: the lock and the commit rule read the store as it is now."""
    import s3fs

    options: dict = {"use_listings_cache": False, "skip_instance_cache": True}
    client: dict = {}
    if endpoint := os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        client["endpoint_url"] = endpoint
    if region := os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        client["region_name"] = region
    if conn_id:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
        extra = conn.extra_dejson or {}
        options.update(key=conn.login, secret=conn.password)
        client.update({k: extra[k] for k in ("endpoint_url", "region_name") if extra.get(k)})
    return s3fs.S3FileSystem(client_kwargs=client, **options)


def day_of(relative: str) -> str | None:
    """The business day a data_root-relative file belongs to (None: shared by every day)."""
    found = _DAY_FILE.match(relative)
    return next((group for group in found.groups() if group), None) if found else None


def synced(relative: str) -> bool:
    """Files the store holds: all but scratch, temporary siblings and the local lock."""
    name = relative.rsplit("/", 1)[-1]
    return not (
        relative.startswith("lake/_tmp/")
        or relative in (LOCK_NAME, "warehouse.duckdb.wal")
        or (name.startswith(".") and ".tmp" in name)
    )


@dataclass
class Figures:
    """What one pull or push moved."""

    files: int = 0
    bytes: int = 0
    deleted: int = 0
    seconds: float = 0.0


class ObjectRoot:
    """``s3://bucket/prefix`` as a data_root: pull, push and the run lock (module docstring)."""

    def __init__(self, url: str, fs=None, conn_id: str | None = None):
        refuse_credentials(url)
        self.url = url.rstrip("/")
        self.fs = fs if fs is not None else filesystem(conn_id)
        self.root = self.url.split("://", 1)[1]

    def key(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def listing(self) -> dict[str, dict]:
        """Every object under the prefix: relative path -> ``{"size", "etag"}``."""
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return {}
        cut = len(self.root) + 1
        return {
            name[cut:]: {"size": info["size"], "etag": info.get("ETag", "")}
            for name, info in found.items()
            if info.get("type") == "file" and synced(name[cut:])
        }

    def committed_days(self, listing: dict | None = None) -> set[str]:
        listing = self.listing() if listing is None else listing
        return {m.group(1) for rel in listing if (m := _MANIFEST.match(rel))}

    # --- pull / push --------------------------------------------------------------------

    def pull(self, local: Path, days: tuple[str, ...] = ()) -> Figures:
        """``local/data`` as the store's committed state (and ``days``, which this run works
        on, as they are); ``local/.object-store.json`` records what was pulled."""
        started, figures = time.perf_counter(), Figures()
        data, index = local / "data", _load_index(local)
        listing = self.listing()
        keep = self.committed_days(listing) | set(days)
        wanted = {r: o for r, o in listing.items() if (day := day_of(r)) is None or day in keep}
        for rel in _local_files(data):
            if rel not in wanted:
                (data / rel).unlink()
                index.pop(rel, None)
                figures.deleted += 1
        fetch = [r for r, o in sorted(wanted.items()) if not _current(data, r, index.get(r), o)]
        for rel in fetch:
            make_dirs((data / rel).parent)
        if fetch:
            self.fs.get([self.key(r) for r in fetch], [str(data / r) for r in fetch])
        for rel in fetch:
            etag = wanted[rel]["etag"]
            index[rel] = _entry(data / rel, etag, _md5_of_etag(etag))
            figures.files, figures.bytes = figures.files + 1, figures.bytes + wanted[rel]["size"]
        for rel in set(index) - set(wanted):
            del index[rel]
        _save_index(local, index)
        figures.seconds = time.perf_counter() - started
        return figures

    def changes(self, local: Path, index: dict | None = None) -> tuple[list[str], list[str]]:
        """(files new or rewritten with other bytes since the pull, files deleted since)."""
        data, index = local / "data", _load_index(local) if index is None else index
        present = set(_local_files(data))
        changed = [rel for rel in sorted(present) if _changed(data / rel, index, rel)]
        return changed, sorted(set(index) - present)

    def push(self, local: Path) -> Figures:
        """Upload what changed in ``local/data`` since the pull: the day's files, then the run
        manifests in date order; a replaced manifest is deleted from the store first."""
        started, figures = time.perf_counter(), Figures()
        data, index = local / "data", _load_index(local)
        changed, gone = self.changes(local, index)
        manifests = [r for r in changed if _MANIFEST.match(r)]
        uncommit = [r for r in [*manifests, *gone] if _MANIFEST.match(r) and r in index]
        if uncommit:
            self.fs.rm([self.key(r) for r in uncommit])
        others = [r for r in changed if r not in manifests]
        self._upload(data, others, figures)
        if rest := [r for r in gone if r not in uncommit]:
            self.fs.rm([self.key(r) for r in rest])
        crash_point("object_store_push")  # the day's files are up, its manifest not yet
        for rel in manifests:  # one by one in date order: a day is committed by its own
            self._upload(data, [rel], figures)
        figures.deleted = len(gone)
        listing = self.listing()
        for rel in gone:
            index.pop(rel, None)
        for rel in changed:
            index[rel] = _entry(data / rel, listing.get(rel, {}).get("etag", ""), _md5(data / rel))
        _save_index(local, index)
        figures.seconds = time.perf_counter() - started
        return figures

    def push_files(self, local: Path, relatives: list[str], deleted: list[str]) -> Figures:
        """Upload these files of ``local/data`` and delete those, nothing else (a task without
        the run lock: its own files), recording them as pushed."""
        started, figures = time.perf_counter(), Figures()
        data, index = local / "data", _load_index(local)
        if deleted:
            self.fs.rm([self.key(r) for r in deleted])
        for rel in deleted:
            index.pop(rel, None)
        figures.deleted = len(deleted)
        self._upload(data, relatives, figures)
        for rel in relatives:
            etag = self.fs.info(self.key(rel)).get("ETag", "")
            index[rel] = _entry(data / rel, etag, _md5(data / rel))
        _save_index(local, index)
        figures.seconds = time.perf_counter() - started
        return figures

    def _upload(self, data: Path, relatives: list[str], figures: Figures) -> None:
        if relatives:
            self.fs.put([str(data / r) for r in relatives], [self.key(r) for r in relatives])
            figures.files += len(relatives)
            figures.bytes += sum((data / r).stat().st_size for r in relatives)


def _local_files(data: Path) -> list[str]:
    if not data.is_dir():
        return []
    found = (p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file())
    return [rel for rel in found if synced(rel)]


def _entry(path: Path, etag: str, md5: str | None) -> dict:
    stat = path.stat()
    return {"etag": etag, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": md5}


def _current(data: Path, rel: str, entry: dict | None, obj: dict) -> bool:
    """The local file is the object as pulled or pushed (same ETag, untouched since)."""
    if entry is None or entry["etag"] != obj["etag"]:
        return False
    try:
        stat = (data / rel).stat()
    except FileNotFoundError:
        return False
    return stat.st_size == entry["size"] and stat.st_mtime_ns == entry["mtime_ns"]


def _changed(path: Path, index: dict, rel: str) -> bool:
    """New, or rewritten with other bytes (a rewrite with the same bytes only updates the
    index's modification time)."""
    entry = index.get(rel)
    stat = path.stat()
    if entry and (entry["size"], entry["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
        return False
    if entry and entry["size"] == stat.st_size and entry.get("md5") == _md5(path):
        entry["mtime_ns"] = stat.st_mtime_ns
        return False
    return True


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _md5_of_etag(etag: str) -> str | None:
    """A single-part upload's ETag is its MD5; a multipart one's is not (``...-N``)."""
    text = etag.strip('"')
    return text if re.fullmatch(r"[0-9a-f]{32}", text) else None


def _load_index(local: Path) -> dict[str, dict]:
    try:
        return json.loads((local / INDEX_NAME).read_text(encoding="utf-8"))["files"]
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def _save_index(local: Path, files: dict[str, dict]) -> None:
    make_dirs(local)
    staged = local / f".{INDEX_NAME}.{os.getpid()}.tmp"
    staged.write_text(json.dumps({"files": files}, sort_keys=True), encoding="utf-8")
    staged.replace(local / INDEX_NAME)
