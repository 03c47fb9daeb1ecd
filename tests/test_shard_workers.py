"""The worker processes a day's shard tasks run in (``runner.ShardWorkers``): forked from a
server that imported the step modules once (a 10M-loan day's fifteen validate_shard tasks spent
a minute of CPU importing Great Expectations), yet each task sees the environment and folder
its parent has when the task is submitted, as a spawned process would."""

from __future__ import annotations

import os
import sys

import pytest

from loanrisk.pipeline.runner import ShardWorkers


def probe_modules(names: list[str]) -> dict[str, bool]:
    return {name: name in sys.modules for name in names}


def probe_context(variable: str) -> tuple[str | None, str, int]:
    umask = os.umask(0)
    os.umask(umask)
    return os.environ.get(variable), os.getcwd(), umask


def probe_pid() -> int:
    return os.getpid()


@pytest.fixture
def workers():
    with ShardWorkers(2) as pool:
        yield pool


def test_a_worker_starts_with_the_step_modules_imported(workers):
    loaded = workers.submit(probe_modules, ["loanrisk.pipeline.steps", "great_expectations"])
    assert loaded.result() == {"loanrisk.pipeline.steps": True, "great_expectations": True}


def test_a_worker_sees_the_parents_environment_and_folder_at_submit(workers, tmp_path, monkeypatch):
    workers.submit(probe_pid).result()  # the server is up before the parent changes
    monkeypatch.setenv("LOANRISK_WORKER_PROBE", "after the server started")
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o027)
    try:
        seen = workers.submit(probe_context, "LOANRISK_WORKER_PROBE").result()
    finally:
        os.umask(previous)
    assert seen == ("after the server started", str(tmp_path), 0o027)


def test_every_task_gets_a_fresh_process(workers):
    pids = [workers.submit(probe_pid) for _ in range(4)]
    assert len({future.result() for future in pids}) == 4
