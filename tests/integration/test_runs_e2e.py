"""The runs interface end to end: lost runs, metric capture, JSON for CI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import live_in_group, write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = r"""
entry_points:
  sleep:
    command: "python -c 'import os, time; open(\"started\", \"w\").write(str(os.getpgid(0))); time.sleep(60)'"
  chatty:
    command: "printf 'epoch 1\nloss: 0.5\nacc=0.7\nloss: 0.25\r\nnot a metric: x\nloss=1e-2\n'"
"""


def test_lost_run_is_recorded_killed_and_lost(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", "sleep"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not (project / "started").exists() or not (project / "started").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pgid = int((project / "started").read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The command's group outlives its runner only until the watcher in it ends it
    # (run/supervise.py); while it runs, the run is not lost yet. Wait for that, not a time.
    # (Left to itself, the command ends after its 60 s sleep anyway: nothing lingers.)
    assert not live_in_group(pgid, timeout=60), subprocess.run(
        ["ps", "-o", "pid,ppid,pgid,stat,lstart,args", "-g", str(pgid)],
        capture_output=True,
        text=True,
    ).stdout
    (run,) = SqliteStore(isolated / ".mlrun").search_runs()
    assert run.status == "RUNNING"  # the runner could not record anything
    listed = mlrun("runs", "list", "--json")
    assert (
        f"run {run.run_id[:8]} was RUNNING but its runner is gone; recorded KILLED" in listed.stderr
    )
    (data,) = json.loads(listed.stdout)["runs"]
    assert data["status"] == "KILLED"  # the one lost-run rule, as for trials and jobs
    assert data["tags"]["mlrun.lost"] == "true"
    assert data["tags"]["mlrun.lost.reason"] == f"its runner (pid {proc.pid}) is gone"
    shown = mlrun("runs", "show", run.run_id)
    assert f"lost        its runner (pid {proc.pid}) is gone" in shown.stdout


def test_live_run_is_not_lost(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-e", "sleep"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (project / "started").exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (data,) = json.loads(mlrun("runs", "list", "--json").stdout)["runs"]
        assert data["status"] == "RUNNING"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_capture_metrics(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    plain = mlrun("run", str(project), "-e", "chatty")
    captured = mlrun("run", str(project), "-e", "chatty", "--capture-metrics")
    assert captured.stdout == plain.stdout  # what the user sees is unchanged
    store = SqliteStore(isolated / ".mlrun")
    run = store.search_runs(limit=1)[0]
    assert [(m.value, m.step) for m in store.metric_history(run.run_id, "loss")] == [
        (0.5, 0),
        (0.25, 1),
        (0.01, 2),
    ]
    assert run.metrics["acc"].value == 0.7
    assert "epoch" not in run.metrics and "not a metric" not in run.metrics
    custom = mlrun(
        "run", str(project), "-e", "chatty", "--capture-pattern", r"^(?P<key>epoch) (?P<value>\d+)$"
    )
    assert custom.returncode == 0
    bad = mlrun("run", str(project), "-e", "chatty", "--capture-pattern", "(?P<key>x)")
    assert bad.returncode == 2
    assert "needs the named groups" in bad.stderr
    assert len(store.search_runs()) == 3  # the bad pattern recorded nothing


def test_run_json_is_one_object_on_stdout(mlrun: Mlrun, tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = mlrun("run", str(project), "-e", "chatty", "--capture-metrics", "--json")
    data = json.loads(proc.stdout)
    assert data["schema"] == "mlrun.run/1"
    assert (data["status"], data["exit_code"]) == ("FINISHED", 0)
    assert data["metrics"] == {"loss": 0.01, "acc": 0.7}
    assert set(data["timings"]) == {"env_s", "total_s"}
    assert "loss: 0.5" in proc.stderr
