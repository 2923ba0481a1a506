"""Sweeps with real processes: concurrency, failures, signals, crashes and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import live_in_group, write_project

MLPROJECT = """
name: s
entry_points:
  main:
    parameters:
      x: float
      sleep: {type: float, default: 0}
      fail: {type: string, default: "no"}
    command: "python t.py {x} {sleep} {fail}"
"""

TRIAL = """
import os, sys, time
from pathlib import Path
from mlrun_cli import tracking
x, sleep, fail = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
open(f"started-{sys.argv[1]}", "a").write(f"{os.getpid()} {os.getpgid(0)}\\n")
# TRIAL_MEET=N: wait (60 s at most) until N trials have started, so that trials which run in
# parallel are seen to, on a machine of any speed.
# TRIAL_HOLD=FILE: wait (60 s at most) until FILE exists, so a trial is surely still running.
deadline = time.monotonic() + 60
hold = os.environ.get("TRIAL_HOLD")
while len(list(Path().glob("started-*"))) < int(os.environ.get("TRIAL_MEET", "0")) or (
    hold and not Path(hold).exists()
):
    if time.monotonic() > deadline:
        break
    time.sleep(0.02)
time.sleep(sleep)
if fail == "yes" or (fail == "odd" and int(x) % 2):
    sys.exit(4)
tracking.log_metric("score", -(x - 3) ** 2)
open("finished.log", "a").write(sys.argv[1] + "\\n")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", MLPROJECT, {"t.py": TRIAL})


def sweep(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "sweep", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "sweep", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_gone(pids: list[int]) -> None:
    """Until every one of `pids` has exited (a zombie awaiting its reaper has)."""
    deadline = time.monotonic() + 60
    for pid in pids:
        while True:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                break
            if stat[stat.rindex(")") + 2] == "Z":
                break
            assert time.monotonic() < deadline, f"pid {pid} outlived SIGKILL"
            time.sleep(0.05)


def summary(ref: str) -> dict[str, Any]:
    proc = sweep("show", ref, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def the_sweep() -> str:
    data = json.loads(sweep("list", "--json").stdout)
    assert len(data["sweeps"]) == 1
    return str(data["sweeps"][0]["run_id"])


def test_grid_in_parallel_with_best(project: Path, isolated: Path) -> None:
    proc = sweep(
        str(project), "-P", "x=[2,4]", "-j", "2", "--metric", "score", "--json",
        env={"TRIAL_MEET": "2"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # Two at once: as recorded, each trial started before the other one ended.
    store = SqliteStore(isolated / ".mlrun")
    spans = [store.get_run(t["run_id"]) for t in data["trials"]]
    assert all(r.start_time is not None and r.end_time is not None for r in spans)
    assert max(r.start_time or 0 for r in spans) < min(r.end_time or 0 for r in spans), [
        (r.start_time, r.end_time) for r in spans
    ]
    assert data["schema"] == "mlrun.sweep/1"
    assert data["counts"] == {"FINISHED": 2}
    assert data["best"]["value"] == -1.0
    parent = SqliteStore(isolated / ".mlrun").get_run(data["sweep"]["run_id"])
    assert parent.tags["mlrun.sweep"] == "true"
    assert parent.tags["mlrun.sweep.best_run"] == data["best"]["run_id"]
    assert parent.metrics["best_score"].value == -1.0
    trial = SqliteStore(isolated / ".mlrun").get_run(data["trials"][0]["run_id"])
    assert trial.tags["mlflow.parentRunId"] == parent.run_id
    assert trial.params["x"] in ("2", "4") and trial.tags["mlrun.sweep.id"] == parent.run_id


def test_failures_continue_or_stop(project: Path, isolated: Path) -> None:
    proc = sweep(str(project), "-P", "x=[1,2,3,4]", "-P", "fail=odd")
    assert proc.returncode == 1
    assert "failed trials: 0" in proc.stderr and ", 2 (" in proc.stderr
    assert summary(the_sweep())["counts"] == {"FAILED": 2, "FINISHED": 2}
    proc = sweep(str(project), "-P", "x=[1,2,3,4]", "-P", "fail=yes", "--fail-fast", "--name", "ff")
    assert proc.returncode == 1
    data = json.loads(sweep("show", "ff", "--json").stdout)
    assert data["counts"] == {"FAILED": 1, "SCHEDULED": 3}


def test_sigint_kills_running_trials_and_leaves_nothing(project: Path, isolated: Path) -> None:
    proc = start(str(project), "-P", "x=[1,2,3,4]", "-P", "sleep=60", "-j", "2")
    deadline = time.monotonic() + 60
    while len(list(project.glob("started-*"))) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    groups = [int(p.read_text().split()[1]) for p in project.glob("started-*")]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not any(live_in_group(g) for g in groups)
    data = summary(the_sweep())
    assert data["counts"] == {"KILLED": 2, "SCHEDULED": 2}
    assert data["sweep"]["status"] == "KILLED"


def test_kill_9_then_resume_runs_each_trial_once(
    project: Path, isolated: Path, tmp_path: Path
) -> None:
    # The first trial holds until it is killed: it is surely running when the runner dies.
    never = str(tmp_path / "never")
    proc = start(str(project), "-P", "x=[1,2,3]", "--metric", "score", env={"TRIAL_HOLD": never})
    deadline = time.monotonic() + 60
    while not list(project.glob("started-*")):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    # The runner dies; its trial process goes on or dies with it: kill the trial too, as a crash would.
    _, pgid = map(int, next(project.glob("started-*")).read_text().split())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Only this test's trial processes: `_trial` with this test's store (others run sweeps too).
    ours = (str(isolated).encode(), os.path.realpath(isolated).encode())
    killed = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                argv = (p / "cmdline").read_bytes().split(b"\0")
                if b"_trial" in argv and any(root in a for a in argv for root in ours):
                    os.kill(int(p.name), signal.SIGKILL)
                    killed.append(int(p.name))
            except OSError:
                pass
    assert killed  # the trial's own process, found
    os.killpg(pgid, signal.SIGKILL)
    wait_gone([*killed, pgid])
    ref = the_sweep()
    resumed = sweep("resume", ref)
    assert resumed.returncode == 0, resumed.stderr
    data = summary(ref)
    assert data["counts"] == {"FINISHED": 3}
    # The killed trial was found lost (KILLED + mlrun.lost) and ran again: it started twice;
    # having run again, it is not lost any more (the run's record says so, run/provenance.py).
    assert starts(project) == {"started-1": 2, "started-2": 1, "started-3": 1}
    assert not any(t["lost"] for t in data["trials"])
    assert sorted((project / "finished.log").read_text().split()) == ["1", "2", "3"]  # once each
    again = sweep("resume", ref)
    assert again.returncode == 2
    assert "is finished: nothing to resume" in again.stderr


def test_changed_spec_is_refused_unless_forced(tmp_path: Path, isolated: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    project = write_project(tmp_path / "g", MLPROJECT, {"t.py": TRIAL})
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=project, check=True)
    proc = sweep(str(project), "-P", "x=[1,2]", "--fail-fast", "-P", "fail=yes")
    assert proc.returncode == 1
    ref = the_sweep()
    (project / "t.py").write_text(TRIAL.replace("sys.exit(4)", "sys.exit(5)"))
    refused = sweep("resume", ref)
    assert refused.returncode == 2
    assert "was planned on other sources (patch_sha: None -> " in refused.stderr
    forced = sweep("resume", ref, "--force", "--retry-failed")
    assert forced.returncode == 1  # both trials ran (and failed, as fail=yes says)


# Trials of the resume tests fail (exit 4) once they may: when RACE_MEET trials have started,
# and, for x >= RACE_HOLD, once the file RACE_DIR/go exists. The test decides, not the clock.
RACE_MLPROJECT = """
name: r
entry_points:
  main:
    parameters:
      x: int
    command: "python r.py {x}"
"""

RACE_TRIAL = """
import os, sys, time
from pathlib import Path
x = int(sys.argv[1])
gate = Path(os.environ.get("RACE_DIR", "."))
meet = int(os.environ.get("RACE_MEET", "0"))
hold = int(os.environ.get("RACE_HOLD", "1000000"))
open(f"started-{x}", "a").write(f"{os.getpid()}\\n")
deadline = time.monotonic() + 300  # a safety net only: the test's timeouts say what hung
while time.monotonic() < deadline:
    if len(list(Path().glob("started-*"))) >= meet and (x < hold or (gate / "go").exists()):
        break
    time.sleep(0.02)
sys.exit(4)
"""


def failed_sweep_of_six(tmp_path: Path) -> tuple[Path, str]:
    """A sweep of six trials stopped after its first failure: 1 FAILED, 5 SCHEDULED."""
    project = write_project(tmp_path / "r", RACE_MLPROJECT, {"r.py": RACE_TRIAL})
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "sweep", str(project), "-P", "x=range(0,6,1)",
         "--max-failures", "1"],
        capture_output=True, text=True, timeout=120, cwd=Path.cwd(),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    ref = the_sweep()
    assert summary(ref)["counts"] == {"FAILED": 1, "SCHEDULED": 5}
    for p in project.glob("started-*"):
        p.unlink()
    return project, ref


def resume_with(ref: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "sweep", "resume", ref, "--retry-failed"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def starts(project: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in project.glob("started-*")}


def wait_until(check: Any, *procs: subprocess.Popen[str]) -> None:
    """Poll `check` until it is true; fail at once if one of `procs` ended meanwhile."""
    deadline = time.monotonic() + 120  # a machine ten times slower needs a few seconds
    while not check():
        for proc in procs:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_two_concurrent_resumes_never_share_a_trial(tmp_path: Path, isolated: Path) -> None:
    project, ref = failed_sweep_of_six(tmp_path)
    # Every trial waits until two have started: the two resumes surely run side by side.
    a, b = resume_with(ref, RACE_MEET="2"), resume_with(ref, RACE_MEET="2")
    for proc in (a, b):
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err  # every trial failed, as it always does
    assert starts(project) == {f"started-{i}": 1 for i in range(6)}  # each ran exactly once
    assert summary(ref)["counts"] == {"FAILED": 6}


def test_a_resume_joining_a_live_one_does_not_rerun_what_it_ran(
    tmp_path: Path, isolated: Path
) -> None:
    # The order that ran a trial three times: resume A re-runs trial 0, which fails again,
    # and only then does resume B start. B must join A, not put trial 0 back.
    project, ref = failed_sweep_of_six(tmp_path)
    gate = {"RACE_DIR": str(tmp_path), "RACE_HOLD": "1"}  # trials 1.. wait for the go file
    a = resume_with(ref, **gate)
    procs = [a]
    try:
        wait_until(lambda: "started-1" in starts(project), a)  # trial 0 failed; A holds 1
        procs.append(resume_with(ref, **gate))
        wait_until(lambda: sum(starts(project).values()) >= 3, *procs)  # B started one too
        assert starts(project) == {"started-0": 1, "started-1": 1, "started-2": 1}
    finally:
        (tmp_path / "go").touch()  # whatever happened, nothing is left waiting
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err
    assert starts(project) == {f"started-{i}": 1 for i in range(6)}
    assert summary(ref)["counts"] == {"FAILED": 6}


def test_json_summary_on_stdout_trial_output_on_stderr(project: Path, isolated: Path) -> None:
    loud = write_project(
        project.parent / "loud", MLPROJECT, {"t.py": "print('TRIAL-OUTPUT')\n" + TRIAL}
    )
    proc = sweep(str(loud), "-P", "x=[1,2]", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"FINISHED": 2}
    assert proc.stderr.count("TRIAL-OUTPUT") == 2


def test_eight_jobs_on_a_new_store(project: Path, isolated: Path) -> None:
    proc = sweep(str(project), "-P", "x=range(0,8,1)", "-j", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"FINISHED": 8}


def test_retyping_an_unfinished_sweep_says_how_to_resume(project: Path, isolated: Path) -> None:
    sweep(str(project), "-P", "x=[1,2]", "-P", "fail=yes", "--fail-fast")
    ref = the_sweep()
    again = sweep(str(project), "-P", "x=[1,2]", "-P", "fail=yes", "--fail-fast")
    assert again.returncode == 2
    assert f"resume it with 'mlrun sweep resume {ref[:8]}'" in again.stderr


def test_random_sweeps_are_reproducible(project: Path, isolated: Path) -> None:
    a = json.loads(
        sweep(
            str(project), "-P", "x=uniform(0,10)", "-n", "4", "--seed", "7", "--dry-run", "--json"
        ).stdout
    )
    b = json.loads(
        sweep(
            str(project), "-P", "x=uniform(0,10)", "-n", "4", "--seed", "7", "--dry-run", "--json"
        ).stdout
    )
    assert a["trials"] == b["trials"] and len(a["trials"]) == 4
    assert not (isolated / ".mlrun").exists()  # dry runs record nothing


def test_skip_existing_links_finished_runs(tmp_path: Path, isolated: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    project = write_project(
        tmp_path / "g", MLPROJECT, {"t.py": TRIAL, ".gitignore": "started-*\nfinished.log\n"}
    )
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=project, check=True)
    run = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "-P", "x=2"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    proc = sweep(str(project), "-P", "x=[2,3]", "--skip-existing", "--json")
    assert proc.returncode == 0, proc.stderr
    trials = {t["params"]["x"]: t for t in json.loads(proc.stdout)["trials"]}
    assert trials["2"]["linked_run"] is not None and trials["3"]["linked_run"] is None
    assert (project / "finished.log").read_text().split() == [
        "2",
        "3",
    ]  # x=2 ran once, by `mlrun run`


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-P", "nope=[1,2]"], "has no parameter 'nope'"),
        (["-P", "x=[]"], "empty grid"),
        (["-P", "x=uniform(0,1)"], "a random sweep needs -n/--trials N"),
        (["-P", "x=[1,2]", "-j", "0"], "-j/--jobs must be 1 or more"),
        (["-P", "x=linspace(0,1"], "unclosed '('"),
    ],
)
def test_bad_input(project: Path, isolated: Path, args: list[str], message: str) -> None:
    proc = sweep(str(project), *args)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert not (isolated / ".mlrun").exists()


def test_file_and_spec(project: Path, tmp_path: Path, isolated: Path) -> None:
    (tmp_path / "t.csv").write_text("x,sleep\n1,0\n2,0\n")
    proc = sweep(str(project), "--file", str(tmp_path / "t.csv"), "--json")
    assert proc.returncode == 0, proc.stderr
    assert sorted(t["params"]["x"] for t in json.loads(proc.stdout)["trials"]) == ["1", "2"]
    (tmp_path / "bad.csv").write_text("x,zzz\n1,0\n")
    bad = sweep(str(project), "--file", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "has no parameter 'zzz'" in bad.stderr
    (tmp_path / "s.yaml").write_text("parameters:\n  x: [5, 6]\nmetric: score\nmethod: grid\n")
    spec = sweep(str(project), "--spec", str(tmp_path / "s.yaml"), "--json", "--name", "fromspec")
    assert spec.returncode == 0, spec.stderr
    assert json.loads(spec.stdout)["best"]["params"]["x"] == "5"
    (tmp_path / "bad.yaml").write_text("parameters: {x: [1]}\ntrials: 0\n")
    refused = sweep(str(project), "--spec", str(tmp_path / "bad.yaml"))
    assert refused.returncode == 2 and "trials" in refused.stderr


def test_unknown_sweep_and_csv(project: Path, isolated: Path) -> None:
    assert sweep(str(project), "-P", "x=[1,2]", "--metric", "score").returncode == 0
    assert "no sweep 'ffff'" in sweep("resume", "ffff").stderr
    csv_out = sweep("show", the_sweep(), "--csv").stdout.splitlines()
    assert csv_out[0] == "trial,x,score,status,duration_s,run_id"
    assert len(csv_out) == 3


def test_tpe(project: Path, isolated: Path) -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        proc = sweep(
            str(project), "-P", "x=uniform(0,6)", "-n", "3", "--method", "tpe", "--metric", "score"
        )
        assert proc.returncode == 2
        assert "pip install 'mlrun-cli[optuna]'" in proc.stderr
        return
    proc = sweep(
        str(project),
        "-P",
        "x=uniform(0,6)",
        "-n",
        "6",
        "--method",
        "tpe",
        "--metric",
        "score",
        "--seed",
        "1",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["counts"] == {"FINISHED": 6}
    assert all(0 <= float(t["params"]["x"]) <= 6 for t in data["trials"])


def test_live_table_on_a_terminal(project: Path, isolated: Path) -> None:
    import pty

    main_fd, sub_fd = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlrun_cli",
            "sweep",
            str(project),
            "-P",
            "x=[1,2]",
            "--metric",
            "score",
        ],
        stdin=subprocess.DEVNULL,
        stdout=sub_fd,
        stderr=sub_fd,
        env=env,
    )
    os.close(sub_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(main_fd)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert "sweep: 2/2 done" in out
    assert "score" in out and "FINISHED" in out
    assert "[1/2] trial" not in out  # the plain lines are for pipes
