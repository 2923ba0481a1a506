"""Real signals to a real `mlrun`: the child's whole process group ends, the run is KILLED."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import live_in_group, write_project

PROJECT = r"""
entry_points:
  sleep:
    command: "python sleeper.py first && python sleeper.py second"
  stubborn:
    command: "python stubborn.py"
  background:
    command: "python sleeper.py bg & python -c 'print(\"leader done\")'"
  selfkill:
    command: "python -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'"
"""

SLEEPER = """
import os, sys, time
open(sys.argv[1] + ".pid", "w").write(f"{os.getpid()} {os.getpgid(0)}")
time.sleep(120)
"""

STUBBORN = """
import os, signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open("first.pid", "w").write(f"{os.getpid()} {os.getpgid(0)}")
time.sleep(120)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", PROJECT, {"sleeper.py": SLEEPER, "stubborn.py": STUBBORN})


def start(project: Path, entry: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", entry],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for(path: Path, timeout: float = 30) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            pid, pgid = path.read_text().split()
            return int(pid), int(pgid)
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def group_alive(pgid: int) -> bool:
    return live_in_group(pgid)


def only_run(cwd: Path):  # type: ignore[no-untyped-def]
    runs = SqliteStore(cwd / ".mlrun").search_runs()
    assert len(runs) == 1
    return runs[0]


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_kills_chained_command(project: Path, isolated: Path, sig: int, code: int) -> None:
    proc = start(project, "sleep")
    _, pgid = wait_for(project / "first.pid")
    assert pgid != os.getpgid(proc.pid)  # the child has a group of its own
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == code
    assert not group_alive(pgid)
    assert not (project / "second.pid").exists()  # the chain did not go on
    run = only_run(isolated)
    assert (run.status, run.exit_code) == ("KILLED", code)


def test_stubborn_child_is_escalated_to_sigkill(project: Path, isolated: Path) -> None:
    proc = start(project, "stubborn")
    _, pgid = wait_for(project / "first.pid")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    # SIGINT ignored, SIGTERM ignored after MLRUN_KILL_GRACE=3 s, SIGKILL 3 s later.
    assert 5 < time.monotonic() - t0 < 20
    assert not group_alive(pgid)
    assert only_run(isolated).status == "KILLED"


def test_second_ctrl_c_escalates_at_once(project: Path, isolated: Path) -> None:
    proc = start(project, "stubborn")
    _, pgid = wait_for(project / "first.pid")
    t0 = time.monotonic()
    for _ in range(3):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
    assert proc.wait(timeout=30) == 130
    assert time.monotonic() - t0 < 3
    assert not group_alive(pgid)


def test_background_leftovers_are_ended(project: Path, isolated: Path) -> None:
    proc = start(project, "background")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"leader done" in out
    _, pgid = wait_for(project / "bg.pid", timeout=5)
    assert not group_alive(pgid)
    assert only_run(isolated).status == "FINISHED"


def test_child_killed_by_signal_is_killed(project: Path, isolated: Path) -> None:
    proc = start(project, "selfkill")
    assert proc.wait(timeout=30) == 137
    run = only_run(isolated)
    assert (run.status, run.exit_code) == ("KILLED", 137)
