"""The lake on object storage (issue 24, point 5; ``loanrisk.lake.object_store``): a real
SeaweedFS S3 server (``tests/s3_server.py``) holds an ``s3://`` data_root.

A day run on ``s3://`` publishes the same bytes as the same day on a local path; a run killed
after uploading the day's files but before its manifest leaves nothing of the day visible
(``status``, the warehouse views read through ``duckdb.register_filesystem``) and the rerun
that takes over its lock publishes the local bytes; the store's lock refuses a second writer;
credentials in a config file are refused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import outputs
from s3_server import make_bucket, seaweed

from loanrisk.cli import main
from loanrisk.errors import ConfigError, RunLockedError, StaleLockError
from loanrisk.lake.faults import CRASH_ENV
from loanrisk.lake.object_lock import StoreLock
from loanrisk.lake.object_store import ObjectRoot, refuse_credentials
from loanrisk.lake.working_copy import connect_store_warehouse

pytestmark = pytest.mark.slow

DAY1, DAY2 = dt.date(2026, 5, 1), dt.date(2026, 5, 2)
BUCKET = "loanrisk"
GX_RESULTS = "gx/gx/uncommitted/validations/"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """SeaweedFS on free loopback ports; its credentials and endpoint in this process's
    environment (and so in the CLI subprocesses'), as a deployment gives them."""
    with seaweed(tmp_path_factory.mktemp("seaweed")) as running:
        make_bucket(running, BUCKET)
        saved = {name: os.environ.get(name) for name in running.env()}
        os.environ.update(running.env())
        try:
            yield running
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(scope="module")
def project(tmp_path_factory, config_dir):
    """A copy of the test project whose working copies go to a tmp folder, and two days of
    landing files."""
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("s3-project")
    shutil.copytree(config_dir.parent, folder, dirs_exist_ok=True)
    execution = folder / "config" / "execution.yaml"
    document = yaml.safe_load(execution.read_text(encoding="utf-8"))
    document["object_store_cache"] = str(folder / "cache")
    execution.write_text(yaml.safe_dump(document), encoding="utf-8")
    generate(DAY1, 2, 150, 5, folder / "landing", config_dir)
    return folder


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory, project):
    """The two days run on a local data_root: the bytes the store must hold."""
    root = tmp_path_factory.mktemp("local") / "data"
    shutil.copytree(project / "landing", root / "landing")
    for day in (DAY1, DAY2):
        assert cli("run", day, root, project) == 0
    return outputs(root)


def cli(command: str, day: dt.date, root, project: Path, *more: str) -> int:
    args = [command, "--date", str(day), "--data-root", str(root)]
    return main([*args, "--config", str(project / "config"), *more])


def mirror(server, url: str, folder: Path) -> Path:
    """Every object under ``url`` downloaded as it is (what a reader of the store has)."""
    fs, prefix = server.filesystem(), url.removeprefix("s3://")
    for key in fs.find(prefix):
        target = folder / key[len(prefix) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get(key, str(target))
    return folder


def upload_landing(server, project: Path, url: str) -> None:
    fs = server.filesystem()
    for path in sorted((project / "landing").iterdir()):
        fs.put(str(path), f"{url.removeprefix('s3://')}/landing/{path.name}")


def days_of(con, view: str) -> set[dt.date]:
    return {row[0] for row in con.execute(f"SELECT DISTINCT snapshot_date FROM {view}").fetchall()}


def test_credentials_in_a_config_file_are_refused(tmp_path, config_dir, capsys):
    with pytest.raises(ConfigError, match="data_root") as refused:
        refuse_credentials("s3://AKIAEXAMPLE:very-secret@bucket/prefix")
    assert "very-secret" not in str(refused.value)
    project = tmp_path / "project"
    shutil.copytree(config_dir.parent, project)
    pipeline = project / "config" / "pipeline.yaml"
    text = pipeline.read_text(encoding="utf-8")
    pipeline.write_text(
        text.replace("data_root: data ", "data_root: s3://AKIAEXAMPLE:very-secret@bucket/x "),
        encoding="utf-8",
    )
    assert main(["run", "--date", str(DAY1), "--config", str(project / "config")]) == 1
    err = capsys.readouterr().err
    assert "[CONFIG_INVALID] data_root" in err and "very-secret" not in err


def test_the_store_lock_refuses_a_second_writer(server, project, capsys):
    url = f"s3://{BUCKET}/locked"
    lock = StoreLock(ObjectRoot(url))
    record = lock.acquire(str(DAY1), "test", ttl_seconds=600)
    try:
        with pytest.raises(RunLockedError):
            StoreLock(ObjectRoot(url)).acquire(str(DAY1), "second", ttl_seconds=600)
        assert cli("run", DAY1, url, project) == 1
        assert "[RUN_LOCKED]" in capsys.readouterr().err
    finally:
        lock.release(record)
    assert lock.holder() is None
    # A lock past its ttl is stale: reported, then taken over only when asked.
    StoreLock(ObjectRoot(url)).acquire(str(DAY1), "overran", ttl_seconds=0.001)
    time.sleep(0.01)
    with pytest.raises(StaleLockError):
        lock.acquire(str(DAY1), "next", ttl_seconds=600)
    record = lock.acquire(str(DAY1), "next", ttl_seconds=600, break_stale=True)
    assert lock.holder()["purpose"] == "next"
    lock.release(record)


def test_no_access_to_the_store_is_an_error_not_a_held_lock(server, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(PermissionError):
        StoreLock(ObjectRoot(f"s3://{BUCKET}/denied")).acquire("-", "test", ttl_seconds=600)


def test_a_day_on_s3_publishes_the_local_bytes_and_a_killed_day_stays_invisible(
    server, project, local_reference, tmp_path, capsys
):
    url = f"s3://{BUCKET}/book"
    upload_landing(server, project, url)
    started = time.perf_counter()
    assert cli("run", DAY1, url, project) == 0
    day1_seconds = time.perf_counter() - started
    on_store = outputs(mirror(server, url, tmp_path / "day1"))
    assert on_store == {k: v for k, v in local_reference.items() if str(DAY2) not in k}

    # Day 2 killed after its files are uploaded, before its manifest.
    env = {**os.environ, CRASH_ENV: "object_store_push"}
    args = ["run", "--date", str(DAY2), "--data-root", url, "--config", str(project / "config")]
    died = subprocess.run(
        [sys.executable, "-m", "loanrisk.cli", *args], env=env, capture_output=True, timeout=300
    )
    assert died.returncode == -9, died.stderr[-2000:]
    store = ObjectRoot(url)
    listed = store.listing()
    assert any(f"snapshot_date={DAY2}" in rel for rel in listed), sorted(listed)[-30:]  # uploaded
    assert store.committed_days() == {str(DAY1)}

    capsys.readouterr()
    assert main(["status", "--json", "--data-root", url, "--config", str(project / "config")]) == 0
    statuses = {d["date"]: d["status"] for d in json.loads(capsys.readouterr().out)}
    assert statuses == {str(DAY1): "published", str(DAY2): "not run"}
    assert main(["status", "--data-root", url, "--config", str(project / "config")]) == 0
    assert "stale run lock" in capsys.readouterr().out
    con = connect_store_warehouse(url)
    try:
        assert days_of(con, "pipeline_runs") == {DAY1}
        for view in ("loan_snapshot", "loan_aging", "loan_risk", "collections_queue"):
            assert days_of(con, view) == {DAY1}, view
    finally:
        con.close()

    # The dead run's lock: reported, then taken over; the rerun publishes the local bytes.
    assert cli("run", DAY2, url, project) == 1
    assert "[RUN_LOCK_STALE]" in capsys.readouterr().err
    started = time.perf_counter()
    assert cli("run", DAY2, url, project, "--break-stale-lock") == 0
    day2_seconds = time.perf_counter() - started
    assert outputs(mirror(server, url, tmp_path / "day2")) == local_reference
    assert StoreLock(ObjectRoot(url)).holder() is None
    con = connect_store_warehouse(url)
    try:
        assert days_of(con, "loan_aging") == {DAY1, DAY2}
    finally:
        con.close()
    print(f"s3 run day 1 {day1_seconds:.1f}s, day 2 rerun {day2_seconds:.1f}s")


def test_pull_is_incremental_and_restores_the_committed_state(server, project, tmp_path):
    """A second pull moves nothing; a local file the store lacks (a killed run's) is deleted
    and a changed one fetched again."""
    url = f"s3://{BUCKET}/incremental"
    upload_landing(server, project, url)
    store, local = ObjectRoot(url), tmp_path / "copy"
    first = store.pull(local)
    assert first.files == len(list((project / "landing").iterdir()))
    assert store.pull(local).files == 0
    stray = local / "data" / "lake" / "raw" / "x" / f"snapshot_date={DAY1}" / "part-0.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left by a killed run")
    changed = next((local / "data" / "landing").iterdir())
    original = changed.read_bytes()
    changed.write_bytes(b"damaged")
    again = store.pull(local)
    assert (again.files, again.deleted) == (1, 1)
    assert not stray.exists() and changed.read_bytes() == original


def test_the_working_copy_folder_must_be_absolute(tmp_path):
    from loanrisk.config import ExecutionConfig
    from loanrisk.domain.yaml_models import load_yaml_model

    path = tmp_path / "execution.yaml"
    path.write_text("object_store_cache: relative/cache\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="object_store_cache") as refused:
        load_yaml_model(path, ExecutionConfig)
    assert "absolute" in str(refused.value)
    path.write_text("object_store_cache: ~/cache\nobject_store_lock_ttl_minutes: 0\n")
    with pytest.raises(ConfigError, match="object_store_lock_ttl_minutes"):
        load_yaml_model(path, ExecutionConfig)


def test_airflow_tasks_hand_the_day_on_through_the_store(server, project, tmp_path):
    """Each Airflow task of an s3:// run works on a working copy: ingest's staging is pushed
    (the day not committed: no reader sees it) and pulled by the day's next task."""
    from loanrisk.domain.feeds import FEEDS
    from loanrisk.lake.working_copy import task_copy
    from loanrisk.pipeline.orchestration import run_task, shard_numbers

    url = f"s3://{BUCKET}/airflow"
    upload_landing(server, project, url)
    params = {"data_root": url, "config_dir": str(project / "config")}
    for feed in FEEDS:
        run_task("ingest", str(DAY1), params, feed=feed)
    assert shard_numbers(str(DAY1), params) == [0]
    store = ObjectRoot(url)
    staged = [rel for rel in store.listing() if rel.startswith("lake/staging/")]
    assert {rel.split("/")[2] for rel in staged} == set(FEEDS)
    assert store.committed_days() == set() and StoreLock(store).holder() is None
    with task_copy(params, str(DAY1), "test", 0.0) as inside:
        local = Path(inside["data_root"])
        assert all((local / rel).is_file() for rel in staged)  # the day's own files pulled
    with task_copy(params, str(DAY2), "test", 0.0) as inside:
        local = Path(inside["data_root"])
        assert not any((local / rel).exists() for rel in staged)  # not another day's


def test_a_replaced_manifest_is_deleted_before_the_days_new_files_go_up(
    server, tmp_path, monkeypatch
):
    """A stored day rewritten (a rerun): its old manifest leaves the store first, so a push
    cut short shows the day nowhere rather than its new files under its old manifest."""
    from loanrisk.lake import object_store

    store, local = ObjectRoot(f"s3://{BUCKET}/restated"), tmp_path / "copy"
    part = local / "data" / "lake" / "curated" / "t" / f"snapshot_date={DAY1}" / "part-0.parquet"
    manifest = local / "data" / "runs" / str(DAY1) / "manifest.json"
    for path, text in ((part, "old rows"), (manifest, '{"status": "published"}')):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    store.push(local)
    assert store.committed_days() == {str(DAY1)}

    part.write_text("new rows")
    manifest.write_text('{"status": "published", "rerun": true}')

    def killed(name: str) -> None:
        raise KeyboardInterrupt(name)

    monkeypatch.setattr(object_store, "crash_point", killed)
    with pytest.raises(KeyboardInterrupt):
        store.push(local)
    assert store.committed_days() == set()
    assert store.fs.cat_file(store.key(f"lake/curated/t/snapshot_date={DAY1}/part-0.parquet"))
    monkeypatch.undo()
    store.push(local)
    assert store.committed_days() == {str(DAY1)}
    assert b"rerun" in store.fs.cat_file(store.key(f"runs/{DAY1}/manifest.json"))


# --- shard tasks without the store lock (issue 24, points 4 and 5) ------------------------

HOLD_THE_LOCK = """
import sys
from loanrisk.lake.object_lock import StoreLock
from loanrisk.lake.object_store import ObjectRoot
lock = StoreLock(ObjectRoot(sys.argv[1]))
record = lock.acquire("-", "another run", 600)
print("held", flush=True)
sys.stdin.read()
lock.release(record)
"""


@contextmanager
def another_process_holds_the_lock(url: str) -> Iterator[dict]:
    """A third process holds the store's run lock for the block (a CLI run, a locked task)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        record = StoreLock(ObjectRoot(url)).holder()
        yield record
        assert StoreLock(ObjectRoot(url)).holder() == record  # held throughout, never broken
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


@pytest.fixture(scope="module")
def sharded_project(tmp_path_factory, project):
    """The test project with ``shards: 2`` and GX in the task's own process."""
    folder = tmp_path_factory.mktemp("s3-sharded")
    shutil.copytree(project / "config", folder / "config")
    for name in ("data_contracts", "dags"):
        if (project / name).exists():
            shutil.copytree(project / name, folder / name)
    execution = folder / "config" / "execution.yaml"
    document = yaml.safe_load(execution.read_text(encoding="utf-8"))
    document.update(shards=2, gx_workers=1, object_store_cache=str(folder / "cache"))
    execution.write_text(yaml.safe_dump(document), encoding="utf-8")
    return folder


#: The loan_daily DAG's shard steps, each with its combine step, in the DAG's order.
SHARD_STEPS = (
    ("age_loans_shard", "age_loans", ()),
    ("compute_signals_shard", "compute_signals", ()),
    ("score_loans_shard", "score_loans", ("build_regulatory",)),
    ("build_collections_shard", "build_collections", ()),
)


def side_by_side(pool, url: str, name: str, ds: str, params: dict, parts: list[dict]) -> None:
    """Run the shard tasks ``parts`` of step ``name`` in the pool's processes at once, while
    another process holds the store lock: a shard task that waited for it would fail."""
    from loanrisk.pipeline.orchestration import run_task

    with another_process_holds_the_lock(url):
        futures = [pool.submit(run_task, name, ds, params, **part) for part in parts]
        for future in futures:
            assert future.result(timeout=300) is None


def test_shard_tasks_run_side_by_side_without_the_store_lock(
    server, project, sharded_project, local_reference, tmp_path
):
    """The loan_daily DAG's tasks through ``orchestration.run_task`` with K = 2: each shard
    step's two tasks run at once in two processes while a third holds the store lock, each
    pushes its own part; the combine steps publish the bytes of the local K = 1 run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from loanrisk.domain.feeds import FEEDS
    from loanrisk.pipeline.orchestration import run_task, shard_numbers

    url, ds = f"s3://{BUCKET}/side-by-side", str(DAY1)
    upload_landing(server, project, url)
    params = {"data_root": url, "config_dir": str(sharded_project / "config")}
    started = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        for feed in FEEDS:
            run_task("ingest", ds, params, feed=feed)
        with another_process_holds_the_lock(url):
            shards = shard_numbers(ds, params)  # reads only: takes no lock
        assert shards == [0, 1]
        parts = [{"feed": feed, "shard": k} for feed in FEEDS for k in shards]
        side_by_side(pool, url, "validate_shard", ds, params, parts)
        for feed in FEEDS:
            run_task("validate", ds, params, feed=feed)
        for name, combine, after in SHARD_STEPS:
            side_by_side(pool, url, name, ds, params, [{"shard": k} for k in shards])
            for locked in (combine, *after):
                run_task(locked, ds, params)
    recomputed = run_task("recompute_later_days", ds, params)
    for name in ("publish_warehouse", "finalize_run", "build_report"):
        run_task(name, ds, params, recomputed)
    seconds = time.perf_counter() - started
    expected = {k: v for k, v in local_reference.items() if str(DAY2) not in k}
    assert outputs(mirror(server, url, tmp_path / "store")) == expected
    listed = ObjectRoot(url).listing()
    assert not [rel for rel in listed if "/shards/" in rel]  # combined
    results = {
        rel.split("/")[6] for rel in listed if rel.startswith(GX_RESULTS) and rel.count("/") > 6
    }
    assert results == {f"{feed} {DAY1} shard={k}-of-2" for feed in FEEDS for k in shards}
    pages = {
        rel.split("/")[5] for rel in listed if rel.startswith("reports/validation/validations/")
    }
    assert pages == results  # the Data Docs of every shard's GX results
    assert {
        rel.split("/")[3] for rel in listed if rel.startswith(f"reports/{DAY1}/validation/")
    } >= set(FEEDS)
    cache = sharded_project / "cache"
    assert [p.name for p in cache.iterdir() if p.is_dir() and "-task" in p.name]  # own folders
    print(f"s3 Airflow day with K = 2: {seconds:.1f}s")


def test_an_unlocked_task_writing_outside_its_shard_fails_and_pushes_nothing(
    server, project, sharded_project
):
    from loanrisk.errors import UnlockedWriteError
    from loanrisk.lake.working_copy import task_copy

    url = f"s3://{BUCKET}/outside"
    upload_landing(server, project, url)
    params = {"data_root": url, "config_dir": str(sharded_project / "config")}
    before = ObjectRoot(url).listing()
    day = f"snapshot_date={DAY1}"
    own = f"lake/shards/loan_aging/{day}/shard=0-of-2/part-0.parquet"
    strays = (
        f"lake/curated/loan_aging/{day}/part-0.parquet",
        f"runs/{DAY1}/manifest.json",
        f"lake/shards/loan_aging/{day}/shard=1-of-2/part-0.parquet",  # another shard's part
    )
    for stray in strays:
        with (
            pytest.raises(UnlockedWriteError, match=re.escape(stray)) as refused,
            task_copy(params, str(DAY1), "test", 0.0, shard=0) as inside,
        ):
            write(Path(inside["data_root"]), own, stray)
        assert "nothing was pushed" in str(refused.value)
        assert ObjectRoot(url).listing() == before
    # A deleted file is refused too: an unlocked task never deletes from the store.
    landed = next(rel for rel in before if rel.startswith("landing/"))
    with (
        pytest.raises(UnlockedWriteError, match=re.escape(landed)),
        task_copy(params, str(DAY1), "test", 0.0, shard=0) as inside,
    ):
        (Path(inside["data_root"]) / landed).unlink()
    assert ObjectRoot(url).listing() == before
    # Its own part and input record are pushed; the step log is left behind.
    pushed = (
        f"lake/shards/t/{day}/shard=0-of-2/part-0.parquet",
        f"state/shards/t/{day}/shard=0-of-2.inputs.json",
    )
    with task_copy(params, str(DAY1), "test", 0.0, shard=0) as inside:
        write(Path(inside["data_root"]), *pushed, f"logs/{DAY1}.jsonl")
    assert set(ObjectRoot(url).listing()) - set(before) == set(pushed)


def write(data: Path, *relatives: str) -> None:
    for rel in relatives:
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(b"{}")


def test_a_held_store_lock_is_kept_fresh_past_its_ttl(server):
    """A task running longer than the lock's ttl keeps it: a heartbeat rewrites it (only while
    it is still ours), so no waiter breaks it as stale; once released, nothing is left."""
    url = f"s3://{BUCKET}/heartbeat"
    lock = StoreLock(ObjectRoot(url))
    with lock.held(str(DAY1), "long task", ttl_seconds=1.5) as record:
        time.sleep(3.0)  # twice the ttl
        with pytest.raises(RunLockedError):
            StoreLock(ObjectRoot(url)).acquire(str(DAY1), "waiter", 600, break_stale=True)
        holder = lock.holder()
        assert holder["token"] == record["token"] and holder["expires"] > time.time()
        assert holder["since"] == record["since"]
    assert lock.holder() is None
    # Taken over by another (a breaker): the heartbeat stops and never writes over it.
    with lock.held(str(DAY1), "slow task", ttl_seconds=1.5):
        other = StoreLock(ObjectRoot(url))
        other.root.fs.rm(other.root.key(".loanrisk-run.lock"))
        taken = other.acquire(str(DAY1), "breaker", 600)
        time.sleep(1.5)
        assert lock.holder()["token"] == taken["token"]
    assert lock.holder()["token"] == taken["token"]  # release left the breaker's lock alone
    other.release(taken)
    # Without a heartbeat, a lock past its ttl is stale.
    lock.acquire(str(DAY1), "no heartbeat", ttl_seconds=0.5)
    time.sleep(1.0)
    with pytest.raises(StaleLockError):
        StoreLock(ObjectRoot(url)).acquire(str(DAY1), "next", 600)


def test_the_unlocked_push_rule_pushes_only_the_tasks_own_shard():
    from loanrisk.lake.unlocked_push import UnlockedWrites

    rule, day = UnlockedWrites("airflow age_loans_shard", 1), f"snapshot_date={DAY1}"
    gx = "gx/gx/uncommitted/validations/events/amount--ip_region"
    verdicts = {
        f"lake/shards/loan_aging/{day}/shard=1-of-12/part-0.parquet": "push",
        f"state/shards/loan_aging/{day}/shard=1-of-12.inputs.json": "push",
        f"state/shards/validate_events/{day}/shard=1-of-12.json": "push",
        f"{gx}/events {DAY1} shard=1-of-12/20260501T000000Z/loanrisk-events.json": "push",
        f".versions/r1/next/lake/shards/loan_aging/{day}/shard=1-of-12/part-0.parquet": "push",
        f"lake/shards/loan_aging/{day}/shard=10-of-12/part-0.parquet": "refuse",
        f"state/shards/loan_aging/{day}/shard=11-of-12.inputs.json": "refuse",
        f"{gx}/events {DAY1} shard=10-of-12/20260501T000000Z/loanrisk-events.json": "leave",
        f"lake/curated/loan_aging/{day}/part-0.parquet": "refuse",
        f"lake/shards/loan_aging/{day}/part-0.parquet": "refuse",
        f"runs/{DAY1}/manifest.json": "refuse",
        f"state/shard_counts/{day}.json": "refuse",
        "warehouse.duckdb": "refuse",
        f"logs/{DAY1}.jsonl": "leave",
        "gx/gx/great_expectations.yml": "leave",
        "state/sha256_cache.json": "leave",
    }
    assert {rel: rule.verdict(rel) for rel in verdicts} == verdicts
    own = f"lake/shards/loan_aging/{day}/shard=1-of-12/part-1.parquet"
    assert rule.verdict(own, deleted=True) == "delete"  # a rewritten part of fewer files
    assert rule.verdict(f"lake/curated/t/{day}/part-0.parquet", deleted=True) == "refuse"
    reader = UnlockedWrites("airflow shards", None)  # reads only: pushes nothing
    assert {reader.verdict(rel) for rel in verdicts} == {"leave"}
