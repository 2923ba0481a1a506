"""The command never outlives its runner, even one killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project

PROJECT = """
name: orphan
entry_points:
  main:
    command: "python -c 'import os, time; open(\\"pid\\", \\"w\\").write(str(os.getpid())); time.sleep(120)'"
  family:
    command: "sleep 120 & python -c 'import os, time; open(\\"pid\\", \\"w\\").write(str(os.getpid())); time.sleep(120)'; wait"
  waits:
    command: "sleep 0.2 & wait; echo waited $?"
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _start(project: Path, entry: str) -> tuple[subprocess.Popen[bytes], int]:
    runner = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", entry],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (project / "pid").exists() or not (project / "pid").read_text():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    return runner, int((project / "pid").read_text())


def test_sigkill_to_the_runner_ends_the_command(tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    runner, child = _start(project, "family")
    pgid = os.getpgid(child)
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=30)
    deadline = time.monotonic() + 60  # MLRUN_KILL_GRACE is 3 in tests; generous for slow machines
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the command outlived its runner"
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("something of the command's group outlived its runner")


def test_runs_list_then_records_it_lost_and_killed(
    mlrun: object, tmp_path: Path, isolated: Path
) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    runner, child = _start(project, "main")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=30)
    deadline = time.monotonic() + 60
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    listed = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "runs", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (run,) = json.loads(listed.stdout)["runs"]
    assert run["status"] == "KILLED" and run["tags"]["mlrun.lost"] == "true"


def test_wait_in_the_command_does_not_wait_for_the_watcher(tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", "waits"],
        capture_output=True,
        text=True,
        timeout=60,  # a `wait` that saw the watcher would hang here
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "waited 0\n"
    (run,) = SqliteStore(isolated / ".mlrun").search_runs()
    assert run.status == "FINISHED"
