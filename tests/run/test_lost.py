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


def test_a_run_whose_command_still_runs_is_not_lost(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store")
    runner = subprocess.Popen([sys.executable, "-c", "pass"])
    runner.wait()
    command = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        store.create_run(_new("d" * 32, runner.pid, int(time.time() * 1000) - 1000))
        (store.run_dir("d" * 32) / "command.pgid").write_text(str(command.pid))
        assert record_lost_runs(store) == []
        assert store.get_run("d" * 32).status == RUNNING
    finally:
        command.kill()
        command.wait()
    assert record_lost_runs(store) == ["d" * 32]  # the group is gone now


def test_a_lost_run_records_the_rest_of_its_events_and_ends_when_last_seen(
    tmp_path: Path,
) -> None:
    import json

    from mlrun_cli.store.events import EventReader, save_mark

    store = SqliteStore(tmp_path / "store")
    runner = subprocess.Popen([sys.executable, "-c", "pass"])
    runner.wait()
    started = int(time.time() * 1000) - 60_000
    store.create_run(_new("e" * 32, runner.pid, started))
    run_dir = store.run_dir("e" * 32)
    events = run_dir / "events.jsonl"
    lines = [
        json.dumps({"type": "metric", "key": "loss", "value": i, "step": i}) for i in range(50)
    ]
    events.write_text("".join(line + "\n" for line in lines))
    # The runner recorded the first 20 lines before it died.
    reader = EventReader(events, run_dir)
    reader.offset = sum(len(line) + 1 for line in lines[:20])
    reader.line_no = 20
    save_mark(run_dir / "ingested.json", reader)
    os.utime(events, (started / 1000 + 5, started / 1000 + 5))
    os.utime(run_dir / "ingested.json", (started / 1000 + 4, started / 1000 + 4))
    assert record_lost_runs(store) == ["e" * 32]
    history = store.metric_history("e" * 32, "loss")
    assert [m.step for m in history] == list(range(20, 50))
    run = store.get_run("e" * 32)
    assert run.status == "KILLED"
    assert run.end_time == started + 5000  # the last sign of life, not when it was found
    assert record_lost_runs(store) == []  # found once
