"""The one lost-run rule: KILLED with mlrun.lost and the reason, whoever finds the run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mlrun_cli.run.lost import LOST_STATUS, lost_tags, mark_lost, record_lost_runs, why_lost
from mlrun_cli.store.base import RUNNING, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore


def _new(run_id: str, pid: int | None, start: int) -> NewRun:
    return NewRun(run_id, "0", "r", "me", "true", {}, {}, start, RUNNING, pid, os.uname().nodename)


def test_a_live_runner_is_not_lost() -> None:
    assert why_lost(os.getpid(), int(time.time() * 1000)) is None
    assert why_lost(None, None) is None


def test_a_gone_runner_is_lost_with_its_pid() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert why_lost(proc.pid, int(time.time() * 1000)) == f"its runner (pid {proc.pid}) is gone"


def test_a_reused_pid_is_lost() -> None:
    # Our own pid, but the run claims to have started long before this process did.
    reason = why_lost(os.getpid(), 1000)
    assert reason is not None and "started after the run" in reason


def test_lost_runs_of_this_host_are_recorded_killed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    now = int(time.time() * 1000)
    store.create_run(_new("a" * 32, proc.pid, now))
    store.create_run(_new("b" * 32, os.getpid(), now))
    assert record_lost_runs(store) == ["a" * 32]
    lost = store.get_run("a" * 32)
    assert lost.status == LOST_STATUS == "KILLED"
    assert lost.tags["mlrun.lost"] == "true"
    assert lost.tags["mlrun.lost.reason"] == f"its runner (pid {proc.pid}) is gone"
    assert store.get_run("b" * 32).status == RUNNING


def test_mark_lost_sets_the_rule(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store")
    store.create_run(_new("c" * 32, None, 1000))
    mark_lost(store, "c" * 32, "gone", end_ms=2000)
    run = store.get_run("c" * 32)
    assert (run.status, run.end_time) == ("KILLED", 2000)
    assert {k: run.tags[k] for k in lost_tags("gone")} == lost_tags("gone")
