"""`--backend ray` against a real one-node Ray cluster started once for the session.

The cluster's Jobs API is on a free port, named in the backend config only (RAY_ADDRESS is
unset): every later poll and cancel must find it through the config recorded with the run.
"""

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

from tests.conftest import write_project
from tests.ray_cluster import LocalRay, RayUnavailable

Mlrun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def ray_head() -> Iterator[LocalRay]:
    head = LocalRay(cpus=2)
    try:
        head.start()
    except RayUnavailable as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no Ray cluster: {exc}")
    yield head
    head.stop()


@pytest.fixture(scope="session")
def shared_envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ray-envs")


@pytest.fixture(autouse=True)
def on_ray(
    ray_head: LocalRay, shared_envs: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    from mlrun_cli.backends.ray.client import reset_clients

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("MLRUN_ENV_ROOT", str(shared_envs))
    monkeypatch.setenv("MLRUN_HEARTBEAT", "0.5")
    reset_clients()


@pytest.fixture
def config(ray_head: LocalRay) -> str:
    return json.dumps({"address": ray_head.address, "poll_interval": 0.3})


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
import os, sys, time
from mlrun_cli.tracking import log_metric
n, code = float(sys.argv[1]), int(sys.argv[2])
print("restart", os.environ.get("MLRUN_RESTART_COUNT"), flush=True)
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
    run = run_json(mlrun, "runs", "show", run_id)
    run["metrics"] = {k: m["value"] for k, m in run["metrics"].items()}
    return run


def status_rows(mlrun: Mlrun, *ref: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = run_json(mlrun, "runs", "status", *ref)["runs"]
    return rows


def trial_rows(mlrun: Mlrun) -> list[dict[str, Any]]:
    """The status rows of the newest sweep's trials; none before it is recorded."""
    sweeps = run_json(mlrun, "sweep", "list")["sweeps"]
    if not sweeps:
        return [{"job_id": None}]
    return status_rows(mlrun, "--sweep", sweeps[0]["run_id"]) or [{"job_id": None}]


def wait_status(mlrun: Mlrun, run_id: str, want: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        row = status_rows(mlrun, run_id)[0]
        if row["status"] in want or time.monotonic() > deadline:
            return row
        time.sleep(0.3)


def ours(ray_head: LocalRay, job_ids: set[str]) -> list[str]:
    return [j for j in ray_head.active_jobs() if j in job_ids]


def submit_detached(mlrun: Mlrun, config: str, *args: str) -> dict[str, Any]:
    return run_json(
        mlrun, "run", *args, "--env-manager", "local", "--backend", "ray",
        "--backend-config", config, "--detach",
    )  # fmt: skip


# -- runs ----------------------------------------------------------------------------------


def test_attached_run_finishes_with_its_metrics_and_output(
    mlrun: Mlrun, sleeper: Path, config: str, ray_head: LocalRay
) -> None:
    proc = mlrun(
        "run", str(sleeper), "-P", "n=0.2", "--env-manager", "local", "--backend", "ray",
        "--backend-config", config,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "restart 0" in proc.stdout and "done" in proc.stdout  # the job's output streamed
    runs = run_json(mlrun, "runs", "list")["runs"]
    assert len(runs) == 1
    run = show(mlrun, runs[0]["run_id"])
    assert run["status"] == "FINISHED" and run["exit_code"] == 0
    assert run["metrics"]["slept"] == 0.2
    assert run["params"]["n"] == "0.2"
    assert run["tags"]["mlflow.project.backend"] == "ray"
    # The clean exit.json is final at once; Ray may still have said RUNNING then.
    assert run["tags"]["mlrun.job.state"] in ("RUNNING", "SUCCEEDED")
    job = run["tags"]["mlrun.job.id"]
    deadline = time.monotonic() + 30
    while {j["submission_id"]: j["status"] for j in ray_head.jobs()}[job] != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_failing_job_is_failed_with_its_exit_code(mlrun: Mlrun, sleeper: Path, config: str) -> None:
    proc = mlrun(
        "run", str(sleeper), "-P", "code=3", "--env-manager", "local", "--backend", "ray",
        "--backend-config", config, "--json",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "FAILED" and summary["exit_code"] == 3
    run = show(mlrun, summary["run_id"])
    assert run["status"] == "FAILED" and run["exit_code"] == 3
    assert "done" in proc.stderr  # with --json the job's output goes to stderr


def test_cancel_ends_a_running_job_killed(
    mlrun: Mlrun, sleeper: Path, config: str, ray_head: LocalRay
) -> None:
    sub = submit_detached(mlrun, config, str(sleeper), "-P", "n=120")
    assert wait_status(mlrun, sub["run_id"], {"RUNNING"})["status"] == "RUNNING"
    proc = mlrun("cancel", sub["run_id"][:8], "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"KILLED": 1}
    run = show(mlrun, sub["run_id"])
    assert run["status"] == "KILLED" and run["tags"]["mlrun.job.reason"] == "CANCELLED"
    assert "mlrun.lost" not in run["tags"]
    assert ours(ray_head, {sub["job_id"]}) == []


def test_ctrl_c_while_attached_stops_the_job(
    mlrun: Mlrun, sleeper: Path, config: str, ray_head: LocalRay
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(sleeper), "-P", "n=120",
         "--env-manager", "local", "--backend", "ray", "--backend-config", config],
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
    run = show(mlrun, run_json(mlrun, "runs", "list")["runs"][0]["run_id"])
    assert run["status"] == "KILLED"
    assert ours(ray_head, {run["tags"]["mlrun.job.id"]}) == []


def test_logs_follow_reattaches_to_a_detached_run(mlrun: Mlrun, sleeper: Path, config: str) -> None:
    sub = submit_detached(mlrun, config, str(sleeper), "-P", "n=1")
    proc = mlrun("logs", sub["run_id"][:8], "--follow", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "restart 0" in proc.stdout and "done" in proc.stdout
    assert "FINISHED" in proc.stderr
    assert show(mlrun, sub["run_id"])["metrics"]["slept"] == 1.0


def test_rerun_on_ray_reproduces_a_local_run(mlrun: Mlrun, sleeper: Path, config: str) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(sleeper)]
    subprocess.run(["git", "init", "-q", str(sleeper)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "c"], check=True)
    first = run_json(mlrun, "run", str(sleeper), "-P", "n=0.1", "--env-manager", "local")
    again = run_json(
        mlrun, "rerun", first["run_id"], "--backend", "ray", "--backend-config", config
    )
    assert again["status"] == "FINISHED", again
    run = show(mlrun, again["run_id"])
    assert run["tags"]["mlrun.rerun_of"] == first["run_id"]
    assert run["tags"]["mlflow.project.backend"] == "ray"
    assert run["params"]["n"] == "0.1" and run["metrics"]["slept"] == 0.1
    commit = "mlflow.source.git.commit"
    assert run["tags"][commit] == show(mlrun, first["run_id"])["tags"][commit]


def test_job_gone_without_an_exit_code_is_lost(
    mlrun: Mlrun, sleeper: Path, config: str, ray_head: LocalRay, isolated: Path
) -> None:
    sub = submit_detached(mlrun, config, str(sleeper), "-P", "n=0")
    job = sub["job_id"]
    deadline = time.monotonic() + 60
    while {j["submission_id"]: j["status"] for j in ray_head.jobs()}.get(job) != "SUCCEEDED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    run_dir = isolated / ".mlrun" / "runs" / sub["run_id"]
    (run_dir / "job" / "exit.json").unlink()  # as if the node died before writing it
    ray_head.api(f"/api/jobs/{job}", method="DELETE")  # and the cluster forgot the job
    row = status_rows(mlrun, sub["run_id"])[0]
    assert row["status"] == "KILLED" and row["lost"] is True
    assert show(mlrun, sub["run_id"])["tags"]["mlrun.lost.reason"].startswith(f"ray job {job}")


def test_bad_config_is_one_line_and_exit_2(mlrun: Mlrun, sleeper: Path) -> None:
    unreachable = json.dumps({"address": "http://127.0.0.1:9"})
    for bad, words in (
        ('{"num_cpu": 1}', ("--backend-config", "num_cpu")),
        (unreachable, ("cannot reach the Ray Jobs API at http://127.0.0.1:9",)),
    ):
        proc = mlrun("run", str(sleeper), "--backend", "ray", "--backend-config", bad)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert all(w in lines[0] for w in words), lines[0]
    assert run_json(mlrun, "runs", "list")["runs"] == []  # nothing recorded


def test_backend_check_reports_the_mode(mlrun: Mlrun, config: str) -> None:
    proc = mlrun("backend", "check", "ray", "--backend-config", config, "--json", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] is True
    checks = {c["name"]: c for c in result["checks"]}
    assert {"stage dir", "env cache", "store", "mlrun on the node"} <= set(checks)
    assert "mode shared" in checks["backend"]["detail"]


# -- sweeps ----------------------------------------------------------------------------------


def spans_of(mlrun: Mlrun, summary: dict[str, Any]) -> list[tuple[float, float]]:
    trials = [show(mlrun, t["run_id"]) for t in summary["trials"]]
    return [(t["metrics"]["start"], t["metrics"]["end"]) for t in trials]


def most_at_once(spans: list[tuple[float, float]]) -> int:
    return max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)


def test_sweep_is_one_job_per_trial_with_at_most_j_at_once(
    mlrun: Mlrun, sleeper: Path, config: str
) -> None:
    proc = mlrun(
        "sweep", str(sleeper), "-P", "n=[1.5,1.5,1.5,1.5]", "--literal", "code", "-j", "2",
        "--env-manager", "local", "--backend", "ray", "--backend-config", config, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"] == {"FINISHED": 4}
    jobs = {show(mlrun, t["run_id"])["tags"]["mlrun.job.id"] for t in summary["trials"]}
    assert len(jobs) == 4  # one Ray job per trial
    spans = spans_of(mlrun, summary)
    assert most_at_once(spans) == 2, spans  # never more than -j, and side by side


def test_sweep_fail_fast_cancels_the_unstarted_trials(
    mlrun: Mlrun, sleeper: Path, config: str
) -> None:
    proc = mlrun(
        "sweep", str(sleeper), "-P", "code=[3,0,0,0,0]", "-j", "1", "--fail-fast",
        "--env-manager", "local", "--backend", "ray", "--backend-config", config, "--json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"].get("FAILED") == 1
    assert summary["counts"].get("KILLED", 0) >= 3  # never started
    assert summary["sweep"]["status"] == "FAILED"


def test_detached_sweep_keeps_going_and_resume_submits_only_the_missing(
    mlrun: Mlrun, sleeper: Path, config: str, ray_head: LocalRay
) -> None:
    sub = run_json(
        mlrun, "sweep", str(sleeper), "-P", "n=[0.1,60,0.2,60]", "-j", "2",
        "--env-manager", "local", "--backend", "ray", "--backend-config", config, "--detach",
    )  # fmt: skip
    sweep_id, group = sub["sweep_id"], sub["job_ids"][0]
    # Nobody polls: trials 2 and 3 are submitted by the jobs of 0 and 2 as they end.
    deadline = time.monotonic() + 60
    while True:
        states = {j["submission_id"]: j["status"] for j in ray_head.jobs()}
        want = {f"{group}_{i}": s for i, s in enumerate(["SUCCEEDED", "RUNNING"] * 2)}
        if all(states.get(k) == v for k, v in want.items()):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.3)
    rows = status_rows(mlrun, "--sweep", sweep_id)
    assert [r["status"] for r in rows] == ["FINISHED", "RUNNING", "FINISHED", "RUNNING"]
    first = {r["index"]: r["job_id"] for r in rows}
    assert mlrun("cancel", sweep_id[:8]).returncode == 0
    assert run_json(mlrun, "sweep", "show", sweep_id)["counts"] == {"FINISHED": 2, "KILLED": 2}
    resumed = run_json(mlrun, "sweep", "resume", sweep_id, "--backend-config", config, "--detach")
    assert resumed["trials"] == 2
    jobs = {r["index"]: r["job_id"] for r in status_rows(mlrun, "--sweep", sweep_id)}
    assert jobs["0"] == first["0"] and jobs["2"] == first["2"]
    assert {jobs["1"], jobs["3"]} == {f"{resumed['job_ids'][0]}_{i}" for i in (0, 2)}
    assert mlrun("cancel", sweep_id).returncode == 0
    assert ours(ray_head, {*jobs.values()}) == []


def test_sweep_goes_on_after_its_submitter_is_killed_and_resume_retries_the_failed(
    mlrun: Mlrun, sleeper: Path, config: str, ray_head: LocalRay
) -> None:
    before = {j["submission_id"] for j in ray_head.jobs()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "sweep", str(sleeper), "-P", "code=[0,3,0,3]",
         "-j", "2", "--env-manager", "local", "--backend", "ray", "--backend-config", config],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def new_jobs() -> dict[str, str]:
        return {
            j["submission_id"]: j["status"]
            for j in ray_head.jobs()
            if j["submission_id"] not in before
        }

    deadline = time.monotonic() + 60
    while not new_jobs():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    # Once the trials are recorded with their jobs (a kill between Ray accepting them and
    # that record is a narrower window, not what this test is about).
    while not all(r["job_id"] for r in trial_rows(mlrun)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.2)
    proc.kill()  # SIGKILL while attached: nothing of mlrun is left on this side
    proc.wait()
    # The trials' own jobs release the rest, with nobody watching.
    while len(jobs := new_jobs()) < 4 or not set(jobs.values()) <= {"SUCCEEDED", "FAILED"}:
        assert time.monotonic() < deadline + 60, jobs
        time.sleep(0.3)
    sweep_id = run_json(mlrun, "sweep", "list")["sweeps"][0]["run_id"]
    rows = status_rows(mlrun, "--sweep", sweep_id)
    assert [(r["status"], r["exit_code"]) for r in rows] == [
        ("FINISHED", 0), ("FAILED", 3), ("FINISHED", 0), ("FAILED", 3),
    ]  # fmt: skip
    resumed = run_json(
        mlrun, "sweep", "resume", sweep_id, "--retry-failed", "--backend-config", config
    )
    assert resumed["counts"] == {"FINISHED": 2, "FAILED": 2}
    after = status_rows(mlrun, "--sweep", sweep_id)
    assert [r["job_id"] for r in after][::2] == [r["job_id"] for r in rows][::2]
    assert all(a["job_id"] != r["job_id"] for a, r in zip(after[1::2], rows[1::2], strict=True))


# -- mode: working_dir (no shared filesystem: the node records into an MLflow server) -------


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An MLflow server on 127.0.0.1. Its empty database is kept beside the test venvs: a
    server that finds its schema in place starts in about half the time (no migrations)."""
    import shutil
    import tempfile

    from tests.integration.mlflow_venvs import MLFLOW_VERSION, mlflow_venv
    from tests.integration.test_mlflow_server import Server

    venv = mlflow_venv("full")
    template = Path(tempfile.gettempdir()) / "mlrun-test-venvs" / f"mlflow-{MLFLOW_VERSION}.db"
    server = Server(venv, tmp_path_factory.mktemp("mlflow-server-ray"))
    if template.exists():
        shutil.copyfile(template, server.root / "mlflow.db")
    server.start()
    if not template.exists():  # nothing written to it yet but the schema
        partial = template.with_name(f".{template.name}.{os.getpid()}")
        shutil.copyfile(server.root / "mlflow.db", partial)
        os.replace(partial, template)
    yield server
    server.stop()


@pytest.fixture
def uploaded(ray_head: LocalRay) -> str:
    # The node shares nothing, so this machine's paths are not passed unless named: the
    # test names its own cache and home so nothing lands in the real ones.
    return json.dumps(
        {
            "address": ray_head.address,
            "poll_interval": 0.3,
            "mode": "working_dir",
            "export": ["HOME", "XDG_CACHE_HOME", "MLRUN_CACHE_DIR", "MLRUN_ENV_ROOT"],
        }
    )


def on_server(mlrun: Mlrun, uri: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    return run_json(mlrun, *args, "--tracking-uri", uri, timeout=timeout)


def test_working_dir_run_finishes_on_the_server_with_its_metrics(
    mlrun: Mlrun, sleeper: Path, uploaded: str, mlflow_server: Any, ray_head: LocalRay
) -> None:
    (sleeper / ".gitignore").write_text("sleeper.py\n")  # the upload is exact all the same
    proc = mlrun(
        "run", str(sleeper), "-P", "n=0.2", "--env-manager", "local", "--backend", "ray",
        "--backend-config", uploaded, "--tracking-uri", mlflow_server.uri, "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == "FINISHED" and summary["exit_code"] == 0
    assert summary["metrics"]["slept"] == 0.2
    assert "restart 0" in proc.stderr and "done" in proc.stderr  # Ray's log, streamed
    run = on_server(mlrun, mlflow_server.uri, "runs", "show", summary["run_id"])
    assert run["status"] == "FINISHED" and run["exit_code"] == 0
    assert run["params"]["n"] == "0.2"
    assert run["tags"]["mlflow.project.backend"] == "ray"
    assert run["tags"]["mlrun.job.id"] == summary["job_id"]
    assert run["tags"]["mlrun.job.node"]  # set by the node itself
    job = {j["submission_id"]: j for j in ray_head.jobs()}[summary["job_id"]]
    assert job["runtime_env"]["working_dir"].startswith("gcs://")  # uploaded, not shared
    assert "HOME" in job["runtime_env"]["env_vars"] and "PATH" not in job["runtime_env"]["env_vars"]


def test_working_dir_failing_exit_code_passes_through_and_logs_follow(
    mlrun: Mlrun, sleeper: Path, uploaded: str, mlflow_server: Any
) -> None:
    sub = run_json(
        mlrun, "run", str(sleeper), "-P", "code=3", "-P", "n=1", "--env-manager", "local",
        "--backend", "ray", "--backend-config", uploaded, "--tracking-uri", mlflow_server.uri,
        "--detach",
    )  # fmt: skip
    proc = mlrun("logs", sub["run_id"], "--follow", "--tracking-uri", mlflow_server.uri)
    assert proc.returncode == 0, proc.stderr
    assert "restart 0" in proc.stdout and "done" in proc.stdout
    assert "FAILED" in proc.stderr
    run = on_server(mlrun, mlflow_server.uri, "runs", "show", sub["run_id"])
    assert run["status"] == "FAILED" and run["exit_code"] == 3


def test_working_dir_cancel_is_killed(
    mlrun: Mlrun, sleeper: Path, uploaded: str, mlflow_server: Any, ray_head: LocalRay
) -> None:
    uri = mlflow_server.uri
    sub = run_json(
        mlrun, "run", str(sleeper), "-P", "n=120", "--env-manager", "local",
        "--backend", "ray", "--backend-config", uploaded, "--tracking-uri", uri, "--detach",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while on_server(mlrun, uri, "runs", "status", sub["run_id"])["runs"][0]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    proc = mlrun("cancel", sub["run_id"], "--tracking-uri", uri, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"KILLED": 1}
    run = on_server(mlrun, uri, "runs", "show", sub["run_id"])
    assert run["status"] == "KILLED" and run["tags"]["mlrun.job.reason"] == "CANCELLED"
    assert "mlrun.lost" not in run["tags"]
    # The node records KILLED on the server just before its job ends in Ray.
    deadline = time.monotonic() + 30
    while ours(ray_head, {sub["job_id"]}):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_backend_check_in_working_dir_mode(mlrun: Mlrun, uploaded: str, mlflow_server: Any) -> None:
    proc = mlrun(
        "backend", "check", "ray", "--backend-config", uploaded,
        "--tracking-uri", mlflow_server.uri, "--json", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert "mode working_dir" in checks["backend"]["detail"]
    assert {"job ran", "upload", "mlrun on the node", "store"} <= set(checks)
    assert all(c["ok"] for c in checks.values()), checks
