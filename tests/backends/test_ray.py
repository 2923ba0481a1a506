"""The Ray backend without a cluster: status words, config checks, the missing extra, the
queue that keeps a sweep to -j, and the entrypoint script (Ray itself is faked)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.backends import BackendError, JobSpec, JobStatus, backend_names
from mlrun_cli.backends.ray import RayBackend, load_config
from mlrun_cli.backends.ray.client import JobsClient, RayJob
from mlrun_cli.backends.ray.config import check_ready, memory_bytes
from mlrun_cli.backends.ray.states import normalize
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]
NOOP = "name: p\nentry_points:\n  main:\n    command: 'true'\n"


class FakeJobs:
    """The Jobs API in memory: what was submitted, stopped, and how often it was listed."""

    address = "http://fake:8265"

    def __init__(self) -> None:
        self.jobs: dict[str, RayJob] = {}
        self.options: dict[str, dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()

    def list(self) -> list[RayJob]:
        self.calls["list"] += 1
        return list(self.jobs.values())

    def submit(self, submission_id: str, entrypoint: str, **options: Any) -> None:
        self.calls["submit"] += 1
        assert submission_id not in self.jobs, "Ray refuses a submission id twice"
        self.jobs[submission_id] = RayJob(
            submission_id,
            "PENDING",
            start_time_ms=int(time.time() * 1000),
            metadata=options.get("metadata"),
        )
        self.options[submission_id] = {"entrypoint": entrypoint, **options}

    def stop(self, submission_id: str) -> bool:
        self.calls["stop"] += 1
        job = self.jobs.get(submission_id)
        if job is None or job.status not in ("PENDING", "RUNNING"):
            return False
        self.end(submission_id, "STOPPED")
        return True

    def logs(self, submission_id: str) -> str:
        self.calls["logs"] += 1
        return f"output of {submission_id}\n"

    def end(self, submission_id: str, status: str) -> None:
        job = self.jobs[submission_id]
        self.jobs[submission_id] = RayJob(
            submission_id, status, start_time_ms=job.start_time_ms, metadata=job.metadata
        )


@pytest.fixture
def fake() -> FakeJobs:
    return FakeJobs()


def array_job(root: Path, count: int, concurrency: int, export: tuple[str, ...] = ()) -> JobSpec:
    return JobSpec(
        name="mlrun-sweep-abcd1234",
        argv=["python", "-m", "mlrun_cli", "-q", "_exec", "--index", "{index}"],
        workdir=root,
        log=root / "logs",
        script=root / "array-0.sh",
        indices=list(range(count)),
        concurrency=concurrency,
        export=export,
    )


# -- status words ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("PENDING", JobStatus.PENDING),
        ("QUEUED", JobStatus.PENDING),  # ours: held back to keep a sweep to -j
        ("RUNNING", JobStatus.RUNNING),
        ("SUCCEEDED", JobStatus.COMPLETED),
        ("FAILED", JobStatus.FAILED),
        ("STOPPED", JobStatus.CANCELLED),
        ("SOMETHING_NEW", JobStatus.UNKNOWN),
    ],
)
def test_ray_states_in_the_common_words(word: str, status: JobStatus) -> None:
    assert normalize(word) == status


def test_ray_is_registered() -> None:
    assert "ray" in backend_names()


# -- config ----------------------------------------------------------------------------------


def test_config_is_validated_by_its_schema(isolated: Path) -> None:
    assert load_config(None) == {}
    good = {"address": "http://head:8265", "num_cpus": 2, "memory": "4G", "export": ["X"]}
    assert load_config(json.dumps(good)) == good
    with pytest.raises(BackendError, match="num_cpu"):
        load_config('{"num_cpu": 1}')
    with pytest.raises(BackendError, match="num_gpus"):
        load_config('{"num_gpus": "two"}')
    with pytest.raises(BackendError, match="not valid JSON"):
        load_config("{nope")
    yaml_file = isolated / "ray.yaml"
    yaml_file.write_text("address: http://head:8265\nmax_concurent_jobs: 4\n")
    with pytest.raises(BackendError, match=r"ray\.yaml.*max_concurent_jobs"):
        load_config(str(yaml_file))


def test_memory_sizes() -> None:
    assert memory_bytes(1024) == 1024
    assert memory_bytes("512M") == 512_000_000
    assert memory_bytes("2GiB") == 2 * 1024**3
    assert memory_bytes(None) is None


def test_check_ready_refuses_what_it_can_see_here(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_ready({"mode": "working_dir"})  # the store is checked when it is known
    with pytest.raises(BackendError, match=r"env_build: submit .* mode: working_dir"):
        check_ready({"mode": "working_dir", "env_build": "submit"})
    monkeypatch.delenv("MLRUN_TEST_NOT_SET", raising=False)
    with pytest.raises(BackendError, match="MLRUN_TEST_NOT_SET is not set"):
        check_ready({"export": ["MLRUN_TEST_NOT_SET"]})
    blocker = isolated / "a-file"
    blocker.write_text("")
    with pytest.raises(BackendError, match="not writable"):
        check_ready({"stage_dir": str(blocker / "stage")})


def test_bad_config_is_one_line_exit_2_before_anything_is_recorded(
    mlrun: Mlrun, isolated: Path
) -> None:
    project = write_project(isolated / "p", NOOP)
    for config, word in (('{"gpus": 1}', "gpus"), ('{"mode": "uploaded"}', "mode")):
        proc = mlrun("run", str(project), "--backend", "ray", "--backend-config", config)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and word in proc.stderr
    assert json.loads(mlrun("runs", "list", "--json").stdout)["runs"] == []


# -- the missing extra -----------------------------------------------------------------------


def test_missing_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)  # import fails
    with pytest.raises(BackendError, match=r"pip install 'mlrun-cli\[ray\]'"):
        JobsClient("http://127.0.0.1:8265")


def needs_ray() -> None:
    """Skip without the Ray client, except under CI=true, where it must be installed."""
    try:
        import ray.job_submission  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"ray[default] is not installed: {exc}")


@pytest.fixture
def hung_head() -> Iterator[str]:
    """A Jobs API address that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


def test_a_head_that_hangs_is_an_error_in_the_timeout(hung_head: str) -> None:
    needs_ray()
    t0 = time.monotonic()
    with pytest.raises(BackendError, match=r"did not answer the version check in 0.5 s"):
        JobsClient(hung_head, timeout=0.5)
    assert time.monotonic() - t0 < 10


def test_a_hanging_head_is_one_line_on_the_command_line(
    mlrun: Mlrun, isolated: Path, hung_head: str
) -> None:
    needs_ray()
    project = write_project(isolated / "p", NOOP)
    config = json.dumps({"address": hung_head, "timeout": 0.5})
    proc = mlrun("run", str(project), "--backend", "ray", "--backend-config", config, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"the Ray Jobs API at {hung_head} did not answer" in lines[0]


def test_missing_ray_is_one_line_on_the_command_line(mlrun: Mlrun, isolated: Path) -> None:
    stub = isolated / "no-ray" / "ray"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('no ray here')\n")
    project = write_project(isolated / "p", NOOP)
    path = f"{stub.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    proc = mlrun("run", str(project), "--backend", "ray", env={"PYTHONPATH": path})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mlrun-cli[ray]'" in lines[0], proc.stderr
    assert json.loads(mlrun("runs", "list", "--json").stdout)["runs"] == []


def test_ray_is_imported_only_on_the_ray_path(isolated: Path) -> None:
    code = (
        "import sys, mlrun_cli.backends, mlrun_cli.backends.ray, mlrun_cli.cluster.reconcile\n"
        "from mlrun_cli.backends import cluster_backend\n"
        "cluster_backend('ray', {}).poll_interval\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    project = write_project(isolated / "p", NOOP)
    local = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlrun_cli", "run", str(project),
         "--env-manager", "local"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in local.stderr.splitlines()]
    assert not [m for m in imported if m == "ray" or m.startswith("ray.")]


# -- submit, poll, cancel (Ray faked) ----------------------------------------------------------


def test_single_job_gets_its_environment_and_resources(
    isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    monkeypatch.setenv("MLRUN_KILL_GRACE", "4")
    backend = RayBackend(
        {"num_cpus": 2, "num_gpus": 1, "memory": "1G", "setup": ["module load x"]}, jobs=fake
    )
    sub = backend.submit(
        JobSpec(
            name="mlrun-1234abcd",
            argv=["/opt/py/bin/python", "-m", "mlrun_cli", "-q", "_exec", "--run", "R"],
            workdir=isolated,
            log=isolated / "out.log",
            script=isolated / "job.sh",
            export=["MY_TOKEN"],
        )
    )
    assert sub.job_id.startswith("mlrun-1234abcd-") and not sub.task_ids
    opts = fake.options[sub.job_id]
    assert opts["entrypoint_num_cpus"] == 2 and opts["entrypoint_num_gpus"] == 1
    assert opts["entrypoint_memory"] == 1_000_000_000
    env = opts["runtime_env"]["env_vars"]
    assert env["MY_TOKEN"] == "s3cret" and env["MLRUN_KILL_GRACE"] == "4"
    assert env["RAY_JOB_STOP_WAIT_TIME_S"] == "9"  # after mlrun's own escalation on the node
    script = opts["entrypoint"]
    assert f"exec >>{isolated / 'out.log'} 2>&1" in script
    assert "module load x ||" in script and "exec /opt/py/bin/python -m mlrun_cli" in script
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)  # valid POSIX shell


def test_a_sweep_keeps_to_j_with_one_list_per_poll(isolated: Path, fake: FakeJobs) -> None:
    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    sub = backend.submit(array_job(isolated, 5, 2))
    ids = [sub.task_ids[i] for i in range(5)]
    assert sorted(fake.jobs) == ids[:2]  # the first -j go to Ray at once
    fake.calls.clear()
    states = backend.poll(ids)
    assert fake.calls["list"] == 1  # one call for every trial
    assert [states[i].state for i in ids] == ["PENDING"] * 2 + ["QUEUED"] * 3
    assert all(states[i].status == JobStatus.PENDING for i in ids)
    assert {states[i].name for i in ids} == {"mlrun-sweep-abcd1234"}
    fake.end(ids[0], "SUCCEEDED")
    fake.calls.clear()
    states = backend.poll(ids)
    assert fake.calls == Counter({"list": 1, "submit": 1})  # one ended: one more released
    assert sorted(fake.jobs) == ids[:3] and states[ids[2]].status == JobStatus.PENDING
    assert states[ids[0]].status == JobStatus.COMPLETED


def test_cancel_drops_queued_trials_and_stops_the_others(isolated: Path, fake: FakeJobs) -> None:
    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    sub = backend.submit(array_job(isolated, 4, 1))
    ids = [sub.task_ids[i] for i in range(4)]
    backend.cancel(ids[:3])
    assert fake.calls["stop"] == 1  # only the one in Ray
    assert fake.jobs[ids[0]].status == "STOPPED"
    states = backend.poll(ids)
    assert ids[1] not in states and ids[2] not in states  # never submitted: cancelled
    assert states[ids[3]].status == JobStatus.PENDING  # released in the freed slot
    assert sorted(fake.jobs) == [ids[0], ids[3]]


def test_queued_trials_keep_credentials_by_name(
    isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    sub = backend.submit(array_job(isolated, 3, 1, export=("MY_TOKEN",)))
    queue = next((isolated / "stage" / ".ray-queues").glob("*.json"))
    assert "s3cret" not in queue.read_text() and "MY_TOKEN" in queue.read_text()
    first = sub.task_ids[0]
    assert fake.options[first]["runtime_env"]["env_vars"]["MY_TOKEN"] == "s3cret"
    fake.end(first, "SUCCEEDED")
    monkeypatch.delenv("MY_TOKEN")
    states = backend.poll(list(sub.task_ids.values()))  # cannot release: says why, once
    assert states[sub.task_ids[1]].state == "QUEUED"
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    backend.poll(list(sub.task_ids.values()))
    assert fake.options[sub.task_ids[1]]["runtime_env"]["env_vars"]["MY_TOKEN"] == "s3cret"


def test_a_missing_queue_is_an_error_never_lost_jobs(isolated: Path, fake: FakeJobs) -> None:
    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    sub = backend.submit(array_job(isolated, 3, 1))
    elsewhere = RayBackend({"stage_dir": str(isolated / "other")}, jobs=fake)
    with pytest.raises(BackendError, match="queue of ray jobs"):
        elsewhere.poll(list(sub.task_ids.values()))


def test_a_job_ray_forgot_is_gone(isolated: Path, fake: FakeJobs) -> None:
    backend = RayBackend({}, jobs=fake)
    assert backend.poll(["mlrun-1234abcd-000000"]) == {}
    assert backend.final(["mlrun-1234abcd-000000"]) == {}


def test_node_job_reads_rays_job_config() -> None:
    env = {"RAY_JOB_CONFIG_JSON_ENV_VAR": json.dumps({"metadata": {"job_submission_id": "j1"}})}
    node = RayBackend({}).node_job(env)
    assert node.job_id == "j1" and node.restart == 0
    assert RayBackend({}).node_job({}).job_id is None


def test_a_release_that_fails_half_way_keeps_what_ray_accepted(
    isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    real_submit = fake.submit

    def refuse_task_1(submission_id: str, entrypoint: str, **options: Any) -> None:
        if submission_id.endswith("_1"):
            raise BackendError(f"ray refused job {submission_id}: out of luck")
        real_submit(submission_id, entrypoint, **options)

    monkeypatch.setattr(fake, "submit", refuse_task_1)
    sub = backend.submit(array_job(isolated, 3, 3))  # it stands: two trials are in Ray
    ids = [sub.task_ids[i] for i in range(3)]
    assert sorted(fake.jobs) == [ids[0], ids[2]]
    assert backend.poll(ids)[ids[1]].state == "QUEUED"  # still refused: stays queued
    monkeypatch.setattr(fake, "submit", real_submit)
    backend.poll(ids)  # releases task 1 only, never 0 or 2 again
    assert sorted(fake.jobs) == ids


def test_a_submission_nothing_of_which_reached_ray_fails(
    isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(submission_id: str, entrypoint: str, **options: Any) -> None:
        raise BackendError(f"ray refused job {submission_id}: no")

    monkeypatch.setattr(fake, "submit", refuse)
    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    with pytest.raises(BackendError, match="ray refused"):
        backend.submit(array_job(isolated, 3, 2))


INDEXED = "name: p\nentry_points:\n  main:\n    parameters: {i: int}\n    command: 'true {i}'\n"


def fake_sweep(
    cli_run: Callable[..., Any],
    isolated: Path,
    fake: FakeJobs,
    monkeypatch: pytest.MonkeyPatch,
    n: int,
) -> tuple[str, str]:
    """A detached sweep of `n` trials at -j 2 on the fake cluster: (sweep id, config)."""
    monkeypatch.setattr("mlrun_cli.backends.ray.backend.connect", lambda *a: fake)
    project = write_project(isolated / "p", INDEXED)
    config = json.dumps({"address": fake.address, "stage_dir": str(isolated / "stage")})
    sub = cli_run(
        "sweep", str(project), "-P", f"i=range(0,{n})", "-j", "2", "--env-manager", "local",
        "--backend", "ray", "--backend-config", config, "--detach", "--json",
    )  # fmt: skip
    assert sub.exit_code == 0, sub.output
    return json.loads(sub.output)["sweep_id"], config


def test_runs_status_of_a_sweep_is_one_poll(
    cli_run: Callable[..., Any], isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id, _ = fake_sweep(cli_run, isolated, fake, monkeypatch, 6)
    fake.calls.clear()
    status = cli_run("runs", "status", "--sweep", sweep_id, "--json")
    assert status.exit_code == 0, status.output
    assert fake.calls["list"] == 1
    rows = json.loads(status.output)["runs"]
    assert [r["scheduler_state"] for r in rows] == ["PENDING"] * 2 + ["QUEUED"] * 4


def test_a_retried_trial_keeps_nothing_of_its_last_attempt(
    cli_run: Callable[..., Any], isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id, config = fake_sweep(cli_run, isolated, fake, monkeypatch, 2)

    def rows() -> list[dict[str, Any]]:
        status = cli_run("runs", "status", "--sweep", sweep_id, "--json")
        assert status.exit_code == 0, status.output
        result: list[dict[str, Any]] = json.loads(status.output)["runs"]
        return result

    first = rows()
    for row, (code, state) in zip(first, ((3, "FAILED"), (0, "SUCCEEDED")), strict=True):
        folder = isolated / ".mlrun" / "runs" / row["run_id"] / "job"  # as the node leaves it
        (folder / "started.json").write_text(json.dumps({"host": "n1", "time_ms": 1}))
        status = "FAILED" if code else "FINISHED"
        (folder / "exit.json").write_text(json.dumps({"exit_code": code, "status": status}))
        fake.end(row["job_id"], state)
    ended = rows()
    assert [(r["status"], r["exit_code"]) for r in ended] == [("FAILED", 3), ("FINISHED", 0)]
    assert ended[0]["node"] == "n1" and ended[0]["scheduler_state"] == "FAILED"
    again = cli_run(
        "sweep", "resume", sweep_id, "--retry-failed", "--backend-config", config, "--detach"
    )
    assert again.exit_code == 0, again.output
    retried = rows()[0]
    assert retried["status"] == "SCHEDULED" and retried["job_id"] != first[0]["job_id"]
    assert retried["exit_code"] is None and retried["node"] is None
    assert retried["scheduler_state"] == "PENDING" and retried["reason"] is None
    folder = isolated / ".mlrun" / "runs" / retried["run_id"] / "job"
    assert not (folder / "exit.json").exists() and not (folder / "started.json").exists()
    fake.jobs[retried["job_id"]] = RayJob(retried["job_id"], "RUNNING")
    assert rows()[0]["status"] == "SCHEDULED"  # running, but mlrun has not started yet there


# -- mode: working_dir ---------------------------------------------------------------------


def test_working_dir_needs_an_mlflow_server_store(
    cli_run: Callable[..., Any], isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlrun_cli.backends.ray.backend.connect", lambda *a: fake)
    project = write_project(isolated / "p", INDEXED)
    config = json.dumps({"address": fake.address, "mode": "working_dir"})
    for args in (["run", str(project), "-P", "i=1"], ["sweep", str(project), "-P", "i=[1,2]"]):
        result = cli_run(*args, "--backend", "ray", "--backend-config", config)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "mode: working_dir" in lines[0] and "MLflow server" in lines[0]
        assert "--tracking-uri" in lines[0] and "mode: shared" in lines[0]
    assert fake.calls["submit"] == 0
    assert json.loads(cli_run("runs", "list", "--json").output)["runs"] == []
    assert json.loads(cli_run("sweep", "list", "--json").output)["sweeps"] == []


def test_working_dir_job_uploads_its_folder_and_no_local_paths(
    isolated: Path, fake: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    monkeypatch.setenv("MLRUN_KILL_GRACE", "4")
    backend = RayBackend(
        {"mode": "working_dir", "export": ["MY_TOKEN", "MLRUN_ENV_ROOT"], "setup": ["cd /"]},
        jobs=fake,
    )
    assert not backend.shares_folder() and "mode working_dir" in backend.describe()
    sub = backend.submit(
        JobSpec(
            name="mlrun-1234abcd",
            argv=["/opt/py/bin/python", "-m", "mlrun_cli", "-q", "_exec", "--job", "job.json"],
            workdir=isolated,
            log=isolated / "unused.log",
            script=isolated / "job.sh",
            export=backend.export(),
        )
    )
    opts = fake.options[sub.job_id]
    assert opts["runtime_env"]["working_dir"] == str(isolated)
    env = opts["runtime_env"]["env_vars"]
    assert env["MY_TOKEN"] == "s3cret" and env["MLRUN_KILL_GRACE"] == "4"
    assert env["MLRUN_ENV_ROOT"] == os.environ["MLRUN_ENV_ROOT"]  # named in export: passed
    assert not {"HOME", "PATH", "MLRUN_CACHE_DIR"} & set(env)  # this machine's paths
    script = opts["entrypoint"]
    assert "exec >>" not in script  # Ray keeps the output
    assert script.index("cd /") < script.index('cd "$work"') < script.index("exec /opt/py")
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    assert backend.job_output(sub.job_id) == f"output of {sub.job_id}\n".encode()
    assert RayBackend({}, jobs=fake).job_output(sub.job_id) is None  # shared: the run folder


def test_working_dir_refuses_an_array(isolated: Path, fake: FakeJobs) -> None:
    backend = RayBackend({"mode": "working_dir", "stage_dir": str(isolated)}, jobs=fake)
    with pytest.raises(BackendError, match="single runs only"):
        backend.submit(array_job(isolated, 2, 1))
    assert not fake.jobs


def test_trials_ray_has_but_the_queue_does_not_know_are_never_submitted_twice(
    isolated: Path, fake: FakeJobs
) -> None:
    # The submitter was killed after Ray accepted the first -j trials and before it wrote
    # that into the queue file: an ending trial's release must not submit them again.
    from mlrun_cli.backends.ray import queue as q

    backend = RayBackend({"stage_dir": str(isolated / "stage")}, jobs=fake)
    sub = backend.submit(array_job(isolated, 4, 2))
    ids = [sub.task_ids[i] for i in range(4)]
    (path,) = (isolated / "stage" / ".ray-queues").glob("*.json")
    doc = json.loads(path.read_text())
    for entry in doc["entries"]:
        entry["state"] = q.QUEUED  # as the killed submitter left it
    path.write_text(json.dumps(doc))
    fake.end(ids[0], "SUCCEEDED")
    with q.locked(path) as held:
        assert held is not None
        listed = {j.submission_id: j for j in fake.list()}
        released = q.release(held, isolated / "stage", listed, time.time(), fake, {})
    # Trial 1 still runs: one free slot, the next trial, and nothing submitted twice.
    assert released == [ids[2]]
    assert sorted(fake.jobs) == ids[:3]
