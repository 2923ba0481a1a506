"""`--backend slurm` against a real one-node Slurm cluster started by the session fixture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, write_project
from tests.slurm_cluster import ClusterUnavailable, LocalSlurm

pytestmark = pytest.mark.slurm

Mlrun = Callable[..., subprocess.CompletedProcess[str]]
FAST = json.dumps({"poll_interval": 0.3})


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    c = LocalSlurm(tmp_path_factory.mktemp("slurm"), cpus=4, min_job_age=10)
    try:
        c.start()
    except ClusterUnavailable as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Slurm cluster: {exc}")
    yield c
    c.stop()


@pytest.fixture(scope="session")
def shared_envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slurm-envs")


@pytest.fixture(autouse=True)
def on_cluster(
    cluster: LocalSlurm, shared_envs: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    monkeypatch.setenv("MLRUN_ENV_ROOT", str(shared_envs))  # the iris env is built once
    monkeypatch.setenv("MLRUN_HEARTBEAT", "0.5")


SLEEPER = """
name: sleeper
entry_points:
  main:
    parameters:
      n: {type: float, default: 0.2}
      code: {type: int, default: 0}
    command: "python sleeper.py {n} {code}"
"""

SLEEPER_PY = """
import os, signal, sys, time
from mlrun_cli.tracking import log_metric
signal.signal(signal.SIGUSR1, lambda *a: print("got USR1", flush=True))
n, code = float(sys.argv[1]), int(sys.argv[2])
print("restart", os.environ.get("MLRUN_RESTART_COUNT"), "ckpt", os.environ.get("MLRUN_CHECKPOINT_DIR"))
start = time.time()
time.sleep(n)
log_metric("slept", n)
log_metric("start", start)
log_metric("end", time.time())
print("done", flush=True)
sys.exit(code)
"""


@pytest.fixture
def sleeper(isolated: Path) -> Path:
    return write_project(isolated / "sleeper", SLEEPER, {"sleeper.py": SLEEPER_PY})


def run_json(mlrun: Mlrun, *args: str, timeout: float = 120) -> dict[str, Any]:
    proc = mlrun(*args, "--json", timeout=timeout)
    assert proc.stdout.strip(), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def show(mlrun: Mlrun, run_id: str) -> dict[str, Any]:
    """`runs show --json`, with each metric's latest value in place of its record."""
    run = run_json(mlrun, "runs", "show", run_id)
    run["metrics"] = {k: m["value"] for k, m in run["metrics"].items()}
    return run


def wait_status(mlrun: Mlrun, run_id: str, want: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        row = run_json(mlrun, "runs", "status", run_id)["runs"][0]
        if row["status"] in want or time.monotonic() > deadline:
            return row
        time.sleep(0.3)


def active_jobs(cluster: LocalSlurm) -> list[str]:
    out = cluster.run("squeue", "--noheader", "-o", "%i %T").stdout
    return [line for line in out.splitlines() if line.strip()]


def job_of(mlrun: Mlrun, run_id: str) -> str:
    return str(show(mlrun, run_id)["tags"]["mlrun.job.id"])


def submit_detached(mlrun: Mlrun, *args: str) -> dict[str, Any]:
    return run_json(mlrun, "run", *args, "--backend", "slurm", "--backend-config", FAST, "--detach")


# -- runs ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_attached_iris_run_finishes_with_its_metrics(mlrun: Mlrun) -> None:
    proc = mlrun(
        "run",
        str(REPO / "examples" / "iris-classification"),
        "-P",
        "C=0.5",
        "--backend",
        "slurm",
        "--backend-config",
        FAST,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout  # the job's output streamed live
    runs = run_json(mlrun, "runs", "list")["runs"]
    assert len(runs) == 1
    run = show(mlrun, runs[0]["run_id"])
    assert run["status"] == "FINISHED" and run["exit_code"] == 0
    assert run["metrics"]["accuracy"] > 0.8
    assert run["params"]["C"] == "0.5"
    assert run["tags"]["mlflow.project.backend"] == "slurm"
    assert run["tags"]["mlrun.env.key"]


@pytest.mark.slow
def test_detached_iris_run_is_followed_by_status_and_logs(mlrun: Mlrun) -> None:
    sub = submit_detached(mlrun, str(REPO / "examples" / "iris-classification"))
    assert sub["job_id"].isdigit() and sub["status"] == "SCHEDULED"
    row = wait_status(mlrun, sub["run_id"], {"FINISHED", "FAILED", "KILLED"}, timeout=600)
    assert row["status"] == "FINISHED", row
    assert row["job_id"] == sub["job_id"] and row["exit_code"] == 0
    assert show(mlrun, sub["run_id"])["metrics"]["accuracy"] > 0.8
    logs = mlrun("logs", sub["run_id"][:8])
    assert "accuracy" in logs.stdout


def test_failing_job_is_failed_with_its_exit_code(mlrun: Mlrun, sleeper: Path) -> None:
    proc = mlrun(
        "run", str(sleeper), "-P", "code=3", "--backend", "slurm", "--backend-config", FAST,
        "--env-manager", "local", "--json",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "FAILED" and summary["exit_code"] == 3
    run = show(mlrun, summary["run_id"])
    assert run["status"] == "FAILED" and run["exit_code"] == 3
    assert "done" in proc.stderr  # with --json the job's output goes to stderr


def test_captured_metrics_come_back_from_the_node(mlrun: Mlrun, isolated: Path) -> None:
    chatty = "name: c\nentry_points:\n  main:\n    command: \"printf 'loss: 0.5\\nacc=0.75\\n'\"\n"
    project = write_project(isolated / "chatty", chatty)
    proc = mlrun(
        "run", str(project), "--capture-metrics", "--env-manager", "local", "--backend",
        "slurm", "--backend-config", FAST, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert show(mlrun, json.loads(proc.stdout)["run_id"])["metrics"] == {"loss": 0.5, "acc": 0.75}


def test_cancel_ends_a_running_job_killed(mlrun: Mlrun, sleeper: Path, cluster: LocalSlurm) -> None:
    sub = submit_detached(mlrun, str(sleeper), "-P", "n=120", "--env-manager", "local")
    assert wait_status(mlrun, sub["run_id"], {"RUNNING"})["status"] == "RUNNING"
    proc = mlrun("cancel", sub["run_id"][:8], "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"KILLED": 1}
    run = show(mlrun, sub["run_id"])
    assert run["status"] == "KILLED"
    assert "mlrun.lost" not in run["tags"]
    assert active_jobs(cluster) == []


def test_cancel_of_a_pending_job(mlrun: Mlrun, sleeper: Path, cluster: LocalSlurm) -> None:
    held = json.dumps({"extra": ["--hold"]})
    sub = run_json(
        mlrun, "run", str(sleeper), "--env-manager", "local", "--backend", "slurm",
        "--backend-config", held, "--detach",
    )  # fmt: skip
    assert wait_status(mlrun, sub["run_id"], {"SCHEDULED"})["scheduler_state"] == "PENDING"
    assert mlrun("cancel", sub["run_id"]).returncode == 0
    assert show(mlrun, sub["run_id"])["status"] == "KILLED"
    assert active_jobs(cluster) == []


def test_ctrl_c_while_attached_cancels_the_job(
    mlrun: Mlrun, sleeper: Path, cluster: LocalSlurm, isolated: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(sleeper), "-P", "n=120",
         "--env-manager", "local", "--backend", "slurm", "--backend-config", FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the job's first line: it runs
    assert line.startswith("restart 0"), line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run = run_json(mlrun, "runs", "list")["runs"][0]
    assert run["status"] == "KILLED"
    assert active_jobs(cluster) == []


def test_requeue_continues_the_same_run(mlrun: Mlrun, sleeper: Path, cluster: LocalSlurm) -> None:
    config = json.dumps({"requeue": True, "poll_interval": 0.3})
    sub = run_json(
        mlrun, "run", str(sleeper), "-P", "n=4", "--env-manager", "local", "--backend",
        "slurm", "--backend-config", config, "--detach",
    )  # fmt: skip
    wait_status(mlrun, sub["run_id"], {"RUNNING"})
    deadline = time.monotonic() + 120
    while "restart 0" not in mlrun("logs", sub["run_id"]).stdout:  # the command has started
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert cluster.run("scontrol", "requeue", sub["job_id"]).returncode == 0
    row = wait_status(mlrun, sub["run_id"], {"SCHEDULED"}, timeout=120)
    assert row["status"] == "SCHEDULED" and row["restarts"] == 1, row
    # Restarting before the node has released the job makes Slurm fail it ("credential
    # revoked"), so wait for the node to be idle again, as Slurm's own requeue delay does.
    while cluster.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip() != "idle":
        assert time.monotonic() < deadline + 120
        time.sleep(0.2)
    time.sleep(1)
    update = cluster.run("scontrol", "update", f"JobId={sub['job_id']}", "StartTime=now")
    assert update.returncode == 0, update.stderr
    row = wait_status(mlrun, sub["run_id"], {"FINISHED", "FAILED", "KILLED"}, timeout=120)
    assert row["status"] == "FINISHED", row
    assert row["restarts"] == 1
    runs = run_json(mlrun, "runs", "list")["runs"]
    assert [r["run_id"] for r in runs] == [sub["run_id"]]  # one run, never a duplicate
    log = mlrun("logs", sub["run_id"]).stdout
    first, second = [line for line in log.splitlines() if line.startswith("restart")]
    assert first.split()[1] == "0" and second.split()[1] == "1"
    assert first.split()[3] == second.split()[3]  # the same checkpoint directory


def test_job_gone_without_an_exit_code_is_lost(
    mlrun: Mlrun, sleeper: Path, cluster: LocalSlurm, isolated: Path
) -> None:
    sub = submit_detached(mlrun, str(sleeper), "-P", "n=0", "--env-manager", "local")
    run_dir = isolated / ".mlrun" / "runs" / sub["run_id"]
    deadline = time.monotonic() + 120
    while not (run_dir / "job" / "exit.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (run_dir / "job" / "exit.json").unlink()  # as if the node died before writing it
    while cluster.run("squeue", "--state=all", "-h", "-j", sub["job_id"]).stdout.strip():
        assert time.monotonic() < deadline + 120, "the job was not purged (MinJobAge)"
        time.sleep(1)
    row = run_json(mlrun, "runs", "status", sub["run_id"])["runs"][0]
    assert row["status"] == "KILLED" and row["lost"] is True
    assert show(mlrun, sub["run_id"])["tags"]["mlrun.lost.reason"].startswith("slurm job")


@pytest.mark.slow
def test_time_limit_fails_the_run_with_reason_timeout(mlrun: Mlrun, sleeper: Path) -> None:
    # The early warning reaches the command's process group before the limit.
    config = json.dumps({"time": "1", "signal": "USR1@45", "poll_interval": 0.5})
    proc = mlrun(
        "run", str(sleeper), "-P", "n=600", "--env-manager", "local", "--backend", "slurm",
        "--backend-config", config, "--json", timeout=240,
    )  # fmt: skip
    summary = json.loads(proc.stdout)
    assert summary["status"] == "FAILED", summary
    assert summary["reason"] == "TIMEOUT"
    assert proc.returncode != 0
    assert "got USR1" in proc.stderr


@pytest.mark.slow
def test_mlflow_calls_on_the_node_land_in_the_embedded_store(mlrun: Mlrun, isolated: Path) -> None:
    import textwrap

    from tests.integration.mlflow_venvs import mlflow_venv
    from tests.integration.test_mlflow_server import MLPROJECT, TRAIN

    venv = mlflow_venv("full")
    project = write_project(isolated / "srv", MLPROJECT, {"train.py": textwrap.dedent(TRAIN)})
    path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"  # the command's python has mlflow
    proc = mlrun(
        "run", str(project), "-P", "C=0.5", "--env-manager", "local", "--backend", "slurm",
        "--backend-config", FAST, "--json", env={"PATH": path}, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    assert [r["run_id"] for r in run_json(mlrun, "runs", "list")["runs"]] == [run_id]
    run = show(mlrun, run_id)
    assert run["status"] == "FINISHED"
    assert run["params"]["alpha"] == "0.5" and run["params"]["C"] == "0.5"
    assert run["metrics"]["loss"] == pytest.approx(1 / 3) and run["metrics"]["helper"] == 7.0
    assert run["tags"]["stage"] == "server"
    artifacts = isolated / ".mlrun" / "runs" / run_id / "artifacts"
    assert (artifacts / "notes" / "hi.txt").read_text() == "hi"
    assert (artifacts / "files" / "made.txt").read_text() == "made"


@pytest.mark.slow
def test_run_on_an_mlflow_server_store_is_written_from_the_node(
    mlrun: Mlrun, isolated: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import textwrap

    from tests.integration.mlflow_venvs import mlflow_venv
    from tests.integration.test_mlflow_server import MLPROJECT, TRAIN, Server, read_back

    venv = mlflow_venv("full")
    server = Server(venv, tmp_path_factory.mktemp("mlflow-server-slurm"))
    server.start()
    try:
        project = write_project(isolated / "srv", MLPROJECT, {"train.py": textwrap.dedent(TRAIN)})
        path = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"  # the command's python has mlflow
        proc = mlrun(
            "run", str(project), "-P", "C=0.5", "--experiment-name", "on-slurm",
            "--tracking-uri", server.uri, "--backend", "slurm", "--backend-config", FAST,
            "--json", env={"PATH": path}, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout)
        assert summary["status"] == "FINISHED"
        got = read_back(venv, server.uri, "on-slurm")
        assert got["run_id"] == summary["run_id"]  # the command resumed our run, no second one
        assert got["status"] == "FINISHED"
        assert got["params"]["alpha"] == "0.5" and got["params"]["C"] == "0.5"
        assert got["metrics"]["helper"] == 7.0  # the events file, sent by the node
        assert [v for v, _ in got["loss"]] == [1.0, 0.5, 1 / 3]
        assert got["tags"]["mlrun.job.id"] == summary["job_id"]
        assert "mlrun-output.log" in got["artifacts"] and "files/made.txt" in got["artifacts"]
        status = run_json(mlrun, "runs", "status", summary["run_id"], "--tracking-uri", server.uri)
        assert status["runs"][0]["status"] == "FINISHED"
    finally:
        server.stop()


def test_rerun_on_the_cluster_reproduces_a_local_run(mlrun: Mlrun, sleeper: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(sleeper)], check=True)
    subprocess.run([*git, "-C", str(sleeper), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(sleeper), "commit", "-qm", "c"], check=True)
    first = run_json(mlrun, "run", str(sleeper), "-P", "n=0.1", "--env-manager", "local")
    again = run_json(
        mlrun, "rerun", first["run_id"], "--backend", "slurm", "--backend-config", FAST
    )
    assert again["status"] == "FINISHED", again
    run = show(mlrun, again["run_id"])
    assert run["tags"]["mlrun.rerun_of"] == first["run_id"]
    assert run["tags"]["mlflow.project.backend"] == "slurm"
    assert run["params"]["n"] == "0.1" and run["metrics"]["slept"] == 0.1
    assert (
        run["tags"]["mlflow.source.git.commit"]
        == show(mlrun, first["run_id"])["tags"]["mlflow.source.git.commit"]
    )


def test_environment_built_on_the_node(mlrun: Mlrun, isolated: Path) -> None:
    project = write_project(
        isolated / "envnode",
        "name: e\npython_env: python_env.yaml\nentry_points:\n  main:\n"
        "    command: \"python -c 'import sys; print(sys.prefix)'\"\n",
        {"python_env.yaml": "dependencies: []\n"},
    )
    config = json.dumps({"env_build": "node", "poll_interval": 0.3})
    summary = run_json(
        mlrun, "run", str(project), "--backend", "slurm", "--backend-config", config, timeout=300
    )
    assert summary["status"] == "FINISHED", summary
    tags = show(mlrun, summary["run_id"])["tags"]
    assert tags["mlrun.env.key"]  # recorded by the node through the events file
    envs = run_json(mlrun, "envs", "list")
    assert tags["mlrun.env.key"] in json.dumps(envs)


# -- sweeps ----------------------------------------------------------------------------------


def test_sweep_is_one_array_with_at_most_j_at_once(mlrun: Mlrun, sleeper: Path) -> None:
    proc = mlrun(
        "sweep", str(sleeper), "-P", "n=[1.5,1.5,1.5,1.5]", "--literal", "code", "-j", "2",
        "--env-manager", "local", "--backend", "slurm", "--backend-config", FAST, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"FINISHED": 4}
    trials = [show(mlrun, t["run_id"]) for t in summary["trials"]]
    arrays = {t["tags"]["mlrun.job.id"].split("_")[0] for t in trials}
    assert len(arrays) == 1  # one job array
    spans = [(t["metrics"]["start"], t["metrics"]["end"]) for t in trials]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2, spans
    assert most == 2  # and they did run side by side


def test_sweep_fail_fast_cancels_the_unstarted_trials(mlrun: Mlrun, sleeper: Path) -> None:
    proc = mlrun(
        "sweep", str(sleeper), "-P", "code=[3,0,0,0]", "-j", "1", "--fail-fast",
        "--env-manager", "local", "--backend", "slurm", "--backend-config", FAST, "--json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"].get("FAILED") == 1
    assert summary["counts"].get("KILLED", 0) >= 2  # never started
    assert summary["sweep"]["status"] == "FAILED"


def test_large_sweep_is_chained_arrays_keeping_to_j(mlrun: Mlrun, sleeper: Path) -> None:
    config = json.dumps({"array_max": 2, "poll_interval": 0.3})
    proc = mlrun(
        "sweep", str(sleeper), "-P", "n=[0.5,0.5,0.5,0.5,0.5]", "-j", "2", "--env-manager",
        "local", "--backend", "slurm", "--backend-config", config, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"FINISHED": 5}
    trials = sorted((show(mlrun, t["run_id"]) for t in summary["trials"]),
                    key=lambda t: int(t["tags"]["mlrun.sweep.index"]))  # fmt: skip
    arrays = [t["tags"]["mlrun.job.id"].split("_")[0] for t in trials]
    assert len(set(arrays)) == 3 and arrays[0] == arrays[1] and arrays[2] == arrays[3]
    spans = [(t["metrics"]["start"], t["metrics"]["end"]) for t in trials]
    assert max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans) <= 2


def test_sweep_resume_submits_only_the_missing_indices(
    mlrun: Mlrun, sleeper: Path, isolated: Path
) -> None:
    sub = run_json(
        mlrun, "sweep", str(sleeper), "-P", "n=[0.1,30,0.2,30]", "-j", "4",
        "--env-manager", "local", "--backend", "slurm", "--backend-config", FAST, "--detach",
    )  # fmt: skip
    sweep_id = sub["sweep_id"]
    deadline = time.monotonic() + 120
    while True:
        rows = run_json(mlrun, "runs", "status", "--sweep", sweep_id)["runs"]
        done = {r["index"] for r in rows if r["status"] == "FINISHED"}
        if done == {"0", "2"} and all(r["status"] == "RUNNING" for r in rows if r["index"] in "13"):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)
    first_jobs = {r["index"]: r["job_id"] for r in rows}
    assert mlrun("cancel", sweep_id[:8]).returncode == 0
    shown = run_json(mlrun, "sweep", "show", sweep_id)
    assert shown["counts"] == {"FINISHED": 2, "KILLED": 2}
    # Only 1 and 3 go again, as one new array; 0 and 2 keep their records.
    resumed = run_json(
        mlrun, "sweep", "resume", sweep_id, "--backend-config",
        json.dumps({"poll_interval": 0.3}), "--detach",
    )  # fmt: skip
    assert resumed["trials"] == 2
    script = (isolated / ".mlrun" / "runs" / sweep_id / "job" / "array-1.sh").read_text()
    assert "--array=0,2%1" in script  # indices 1 and 3, as tasks 0 and 2 after the offset 1
    rows = run_json(mlrun, "runs", "status", "--sweep", sweep_id)["runs"]
    jobs = {r["index"]: r["job_id"] for r in rows}
    assert jobs["0"] == first_jobs["0"] and jobs["2"] == first_jobs["2"]
    assert jobs["1"] != first_jobs["1"] and jobs["1"].split("_")[0] == resumed["job_ids"][0]
    assert mlrun("cancel", sweep_id).returncode == 0


def test_one_squeue_call_per_poll(
    mlrun: Mlrun, sleeper: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real = shutil.which("squeue")
    bin_dir = isolated / "counting-bin"
    bin_dir.mkdir()
    calls = isolated / "squeue-calls.txt"
    wrapper = bin_dir / "squeue"
    wrapper.write_text(f'#!/bin/sh\necho "$(date +%s.%N) $*" >> {calls}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    t0 = time.monotonic()
    proc = mlrun(
        "sweep", str(sleeper), "-P", "n=[1,1,1,1,1,1]", "-j", "6", "--env-manager", "local",
        "--backend", "slurm", "--backend-config", json.dumps({"poll_interval": 0.5}),
    )  # fmt: skip
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    lines = calls.read_text().splitlines()
    # Six trials, one call per poll for all of them: never one call per job. Polls start at
    # least poll_interval apart (cluster/follow.py), so this bound only loosens on a slower
    # machine; six calls a poll would break it on any machine.
    assert len(lines) <= elapsed / 0.5 + 2, (len(lines), elapsed)
    assert all(line.count("--jobs=") == 1 for line in lines)


def test_backend_check_reports_the_contract(mlrun: Mlrun) -> None:
    proc = mlrun("backend", "check", "slurm", "--json", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    assert {c["name"] for c in result["checks"]} >= {"stage dir", "env cache", "store"}
