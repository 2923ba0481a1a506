"""`mlrun sweep` as a user sees it: plain lines when piped; on a terminal a live table kept at
the bottom with the trials' output above it; the sweep id at the start; after Ctrl-C the exact
command that resumes it; and a resume counting from the trials already done."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlrun_cli import tags
from mlrun_cli.cli.sweep_view import resume_command
from mlrun_cli.store.base import FINISHED
from mlrun_cli.store.sqlite.store import SqliteStore
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.start import record_sweep
from tests.conftest import write_project

MLPROJECT = """
name: s
entry_points:
  main:
    parameters:
      x: float
      hold: {type: string, default: ""}
    command: "python t.py {x} {hold}"
"""

# Says hello on stdout and stderr; with a hold file named, waits (60 s at most) for it.
TRIAL = """
import os, sys, time
from mlrun_cli import tracking
print(f"hello from x={sys.argv[1]}", flush=True)
print(f"note from x={sys.argv[1]}", file=sys.stderr, flush=True)
open(f"started-{sys.argv[1]}", "w").close()
hold = sys.argv[2] if len(sys.argv) > 2 else ""
deadline = time.monotonic() + 60
while hold and not os.path.exists(hold) and time.monotonic() < deadline:
    time.sleep(0.05)
tracking.log_metric("score", float(sys.argv[1]))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", MLPROJECT, {"t.py": TRIAL})


def mlrun(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", *args], capture_output=True, text=True, timeout=timeout
    )


def normal(text: str, ids: dict[str, str]) -> str:
    """`text` with run ids named by what they are and durations as N.Ns."""
    for value, name in ids.items():
        text = text.replace(value[:8], name)
    text = re.sub(r"\b[0-9a-f]{8}\b", "RUN", text)
    return re.sub(r"\(\d+\.\ds\)", "(N.Ns)", text)


def test_piped_sweep_says_its_id_first_then_plain_lines(project: Path, isolated: Path) -> None:
    proc = mlrun("sweep", str(project), "-P", "x=[1,2]", "--metric", "score", "-e", "main",
                 "--env-manager", "local")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    store = SqliteStore(isolated / ".mlrun")
    sweep_id = store.tagged(tags.SWEEP, "true")[0]
    assert normal(proc.stderr, {sweep_id: "SWEEP"}) == (
        "sweep SWEEP: 2 trials\n"
        "trial 0 started, run RUN: x=1\n"
        "note from x=1\n"
        "[1/2] trial 0 FINISHED x=1 score=1 (N.Ns)\n"
        "trial 1 started, run RUN: x=2\n"
        "note from x=2\n"
        "[2/2] trial 1 FINISHED x=2 score=2 (N.Ns)\n"
        "sweep SWEEP FINISHED: 2 FINISHED\n"
        "best: trial 1 score=2 (RUN)\n"
    )
    assert proc.stdout == "hello from x=1\nhello from x=2\n"


def test_resume_counts_from_the_trials_already_done(project: Path, isolated: Path) -> None:
    store = SqliteStore(isolated / ".mlrun")
    index = store.index()
    assert index is not None
    req = SweepRequest(
        uri=str(project), params={"x": "[1,2,3,4,5,6]"}, metric="score", env_manager="local"
    )
    sweep_id = record_sweep(index, req, prepare(req))
    trials = sorted(
        store.load_runs(store.tagged(tags.SWEEP_ID, sweep_id)),
        key=lambda r: int(r.tags[tags.SWEEP_INDEX]),
    )
    for run in trials[:2]:
        store.set_terminated(run.run_id, FINISHED, int(time.time() * 1000), 0)
    proc = mlrun("sweep", "resume", sweep_id[:8])
    assert proc.returncode == 0, proc.stderr
    lines = normal(proc.stderr, {sweep_id: "SWEEP"}).splitlines()
    ended = [line for line in lines if line.startswith("[")]
    assert lines[0] == "sweep SWEEP: 6 trials, 2 done"
    assert ended == [f"[{i}/6] trial {i - 1} FINISHED x={i} score={i} (N.Ns)" for i in range(3, 7)]
    assert lines[-2:] == ["sweep SWEEP FINISHED: 6 FINISHED", "best: trial 5 score=6 (RUN)"]


def test_ctrl_c_says_the_exact_command_that_resumes(
    project: Path, isolated: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "sweep", str(project), "-P", "x=[1,2,3]",
         "-P", f"hold={hold}", "--env-manager", "local"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (project / "started-1").exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    sweep_id = SqliteStore(isolated / ".mlrun").tagged(tags.SWEEP, "true")[0]
    lines = err.splitlines()
    assert lines[0] == f"sweep {sweep_id[:8]}: 3 trials"
    assert lines[-2:] == [
        f"sweep {sweep_id[:8]} KILLED: 1 KILLED, 2 SCHEDULED",
        f"resume with: mlrun sweep resume {sweep_id[:8]}",
    ]
    # The command said is the one that works.
    hold.touch()
    command = shlex.split(lines[-1].removeprefix("resume with: "))
    assert command[0] == "mlrun"
    resumed = mlrun(*command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.splitlines()[0] == f"sweep {sweep_id[:8]}: 3 trials"
    assert f"sweep {sweep_id[:8]} FINISHED: 3 FINISHED" in resumed.stderr


def test_the_resume_command_says_what_is_left() -> None:
    def summary(**counts: int) -> dict[str, object]:
        return {"sweep": {"run_id": "ab" * 16}, "counts": counts}

    assert resume_command(summary(FINISHED=2, KILLED=1), None) == "mlrun sweep resume abababab"
    assert resume_command(summary(FINISHED=1, SCHEDULED=1), "/tmp/my store") == (
        "mlrun sweep resume abababab --tracking-uri '/tmp/my store'"
    )
    assert resume_command(summary(FINISHED=1, FAILED=1), None) == (
        "mlrun sweep resume abababab --retry-failed"
    )
    assert resume_command(summary(FINISHED=2), None) is None


def tmux_screen(sock: Path) -> str:
    return subprocess.run(
        ["tmux", "-S", str(sock), "capture-pane", "-p", "-t", "0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_live_table_stays_at_the_bottom_under_the_trials_output(
    project: Path, isolated: Path, tmp_path: Path
) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is needed to look at a terminal's screen")
        pytest.skip("tmux is not installed")
    sock = tmp_path / "t.sock"
    hold = tmp_path / "hold"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "COLUMNS")}
    command = shlex.join(
        [sys.executable, "-m", "mlrun_cli", "sweep", str(project), "-P", "x=[1,2,3]",
         "-P", f"hold={hold}", "--metric", "score", "--env-manager", "local"]
    )  # fmt: skip
    subprocess.run(
        ["tmux", "-S", str(sock), "-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "40",
         f"{command}; echo EXIT=$?; sleep 600"],
        env=env, check=True, cwd=isolated,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "│ 0     │ 1 │       │ RUNNING" not in tmux_screen(sock):
            assert time.monotonic() < deadline, tmux_screen(sock)
            time.sleep(0.1)
        hold.touch()
        while "EXIT=" not in tmux_screen(sock):
            assert time.monotonic() < deadline, tmux_screen(sock)
            time.sleep(0.1)
        screen = [line.rstrip() for line in tmux_screen(sock).splitlines() if line.strip()]
    finally:
        subprocess.run(["tmux", "-S", str(sock), "kill-server"], check=False)
    sweep_id = SqliteStore(isolated / ".mlrun").tagged(tags.SWEEP, "true")[0]
    text = normal("\n".join(screen), {sweep_id: "SWEEP"})
    durations = re.sub(r"\d+\.\ds ", "N.Ns ", text)
    assert durations == "\n".join(
        [
            "sweep SWEEP: 3 trials",
            "hello from x=1",
            "note from x=1",
            "hello from x=2",
            "note from x=2",
            "hello from x=3",
            "note from x=3",
            "sweep: 3/3 done",
            "┏━━━━━━━┳━━━┳━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━┓",
            "┃ trial ┃ x ┃ score ┃ status   ┃ duration ┃",
            "┡━━━━━━━╇━━━╇━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━┩",
            "│ 0     │ 1 │ 1     │ FINISHED │ N.Ns     │",
            "│ 1     │ 2 │ 2     │ FINISHED │ N.Ns     │",
            "│ 2     │ 3 │ 3     │ FINISHED │ N.Ns     │",
            "└───────┴───┴───────┴──────────┴──────────┘",
            "sweep SWEEP FINISHED: 3 FINISHED",
            "best: trial 2 score=3 (RUN)",
            "EXIT=0",
        ]
    )
