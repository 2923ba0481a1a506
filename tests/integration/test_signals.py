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
    command: "python sleeper.py bg & until [ -s bg.pid ]; do sleep 0.05; done; echo leader done"
  selfkill:
    command: "python -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'"
"""

SLEEPER = """
import os, sys, time
open(sys.argv[1] + ".pid", "w").write(f"{os.getpid()} {os.getpgid(0)}")
time.sleep(120)
"""

# Ignores INT and TERM, writing down each one it gets (and when): only SIGKILL ends it.
STUBBORN = """
import os, signal, time
def note(signum, frame):
    with open("signals.log", "a") as fh:
        fh.write(f"{signal.Signals(signum).name} {time.monotonic()}\\n")
signal.signal(signal.SIGINT, note)
signal.signal(signal.SIGTERM, note)
open("first.pid", "w").write(f"{os.getpid()} {os.getpgid(0)}")
while True:
    time.sleep(120)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", PROJECT, {"sleeper.py": SLEEPER, "stubborn.py": STUBBORN})


def start(project: Path, entry: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", entry],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )


def received(project: Path) -> list[tuple[str, float]]:
    """The signals the stubborn child got, in order, with when (its monotonic clock)."""
    log = project / "signals.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [(name, float(t)) for name, t in (line.split() for line in lines)]


def wait_received(project: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while len(received(project)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, received(project)
        time.sleep(0.05)


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
    proc = start(project, "stubborn", MLRUN_KILL_GRACE="2")
    _, pgid = wait_for(project / "first.pid")
    proc.send_signal(signal.SIGINT)
    # INT forwarded and ignored, TERM after the grace and ignored, KILL after another grace:
    # about 4 s; the timeout only says it did not hang (a machine ten times slower fits).
    assert proc.wait(timeout=60) == 130
    got = received(project)
    assert [name for name, _ in got] == ["SIGINT", "SIGTERM"]  # then SIGKILL, not writable
    # SIGTERM waited for the grace: a lower bound, which a slower machine only widens (half of
    # it, in case SIGINT reached the child late).
    assert got[1][1] - got[0][1] >= 1.0, got
    assert not group_alive(pgid)
    assert only_run(isolated).status == "KILLED"


def test_second_ctrl_c_escalates_at_once(project: Path, isolated: Path) -> None:
    # A grace far longer than the test's timeout: only the repeated Ctrl-C can escalate.
    proc = start(project, "stubborn", MLRUN_KILL_GRACE="600")
    _, pgid = wait_for(project / "first.pid")
    proc.send_signal(signal.SIGINT)
    wait_received(project, 1, proc)  # forwarded as SIGINT
    proc.send_signal(signal.SIGINT)
    wait_received(project, 2, proc)  # the second one: SIGTERM at once
    proc.send_signal(signal.SIGINT)  # the third: SIGKILL
    assert proc.wait(timeout=60) == 130
    assert [name for name, _ in received(project)] == ["SIGINT", "SIGTERM"]
    assert not group_alive(pgid)


def test_background_leftovers_are_ended(project: Path, isolated: Path) -> None:
    proc = start(project, "background")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert b"leader done" in out
    _, pgid = wait_for(project / "bg.pid")  # the leader waited for it
    assert not group_alive(pgid)
    assert only_run(isolated).status == "FINISHED"


def test_child_killed_by_signal_is_killed(project: Path, isolated: Path) -> None:
    proc = start(project, "selfkill")
    assert proc.wait(timeout=30) == 137
    run = only_run(isolated)
    assert (run.status, run.exit_code) == ("KILLED", 137)
