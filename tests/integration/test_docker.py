"""docker_env projects run in Docker, on a real daemon (tests/docker_daemon.py): the tracking
contract inside the container, volumes and environment, --build-image, signals, exit codes,
ownership, the errors, the lost-run rule and rerun by image id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project
from tests.docker_daemon import Daemon, running_daemon

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

TRAIN = r"""
import json, os, sys, urllib.request
from mlrun_cli import tracking

tracking.log_metric("from_events", 1.5)
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "from_endpoint",
                   "value": 2.5, "timestamp": 0, "step": 0}).encode()
req = urllib.request.Request(
    os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric", data=body,
    headers={"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"],
             "Content-Type": "application/json"})
urllib.request.urlopen(req).read()
facts = {
    "cwd": os.getcwd(), "uid": os.getuid(), "gid": os.getgid(),
    "set": os.environ.get("SET_HERE"), "copied": os.environ.get("COPIED"),
    "volume": open("/data/in.txt").read(), "argv": sys.argv[1:],
    "secret": os.environ.get("NOT_PASSED"),
}
with open("written-here.txt", "w") as fh:  # in the working directory, /mlflow/projects/code
    fh.write("from the container")
tracking.log_artifact("written-here.txt")
with open(os.path.join(os.environ["MLRUN_ARTIFACT_DIR"], "facts.json"), "w") as fh:
    json.dump(facts, fh)
"""


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("dockerd")) as d:
        yield d


@pytest.fixture
def denv(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> Daemon:
    for key, value in daemon.env().items():
        monkeypatch.setenv(key, value)
    return daemon


def project(root: Path, image: str, command: str, extra: str = "", **files: str) -> Path:
    text = f"name: dock\ndocker_env:\n  image: {image}\n{extra}entry_points:\n"
    text += "  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
    text += f"    command: {json.dumps(command)}\n"
    return write_project(root, text, files)


def store() -> SqliteStore:
    return SqliteStore(Path.cwd() / ".mlrun")


def result(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def leftovers(daemon: Daemon) -> list[str]:
    out = daemon.docker("ps", "-a", "--filter", "name=mlrun-", "--format", "{{.Names}}").stdout
    return out.split()


def test_runs_in_docker_with_the_tracking_contract(
    denv: Daemon, tmp_path: Path, mlrun: Mlrun
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("mounted")
    extra = f'  volumes: ["{data}:/data"]\n  environment: [["SET_HERE", "yes"], "COPIED"]\n'
    proj = project(
        tmp_path / "p", denv.image, "python3 train.py {alpha}", extra, **{"train.py": TRAIN}
    )
    proc = mlrun(
        "run",
        str(proj),
        "-P",
        "alpha=0.7",
        "--json",
        env={"COPIED": "from host", "NOT_PASSED": "x"},
    )
    res = result(proc)
    assert res["status"] == "FINISHED"
    assert res["metrics"] == {"from_events": 1.5, "from_endpoint": 2.5}
    run = store().get_run(str(res["run_id"]))
    artifacts = store().artifact_dir(run.run_id)
    facts = json.loads((artifacts / "facts.json").read_text())
    # A file logged by its path in the container's working directory is the host's file.
    assert (artifacts / "written-here.txt").read_text() == "from the container"
    assert facts == {
        "cwd": "/mlflow/projects/code",
        "uid": os.getuid(),
        "gid": os.getgid(),
        "set": "yes",
        "copied": "from host",
        "volume": "mounted",
        "argv": ["0.7"],
        "secret": None,
    }
    assert (artifacts / "facts.json").stat().st_uid == os.getuid()
    assert run.tags["mlflow.project.env"] == "docker"
    image_id = denv.docker("image", "inspect", "--format", "{{.Id}}", denv.image).stdout.strip()
    assert run.tags["mlflow.docker.image.id"] == image_id
    assert run.tags["mlflow.docker.image.uri"] == denv.image
    assert leftovers(denv) == []


def test_a_failing_exit_code_passes_through(denv: Daemon, tmp_path: Path, mlrun: Mlrun) -> None:
    proj = project(tmp_path / "p", denv.image, "echo out; exit 7")
    proc = mlrun("run", str(proj))
    assert proc.returncode == 7, proc.stderr
    assert "out" in proc.stdout
    assert "FAILED (exit code 7)" in proc.stderr


def test_build_image_is_built_once_and_reused(denv: Daemon, tmp_path: Path, mlrun: Mlrun) -> None:
    proj = project(
        tmp_path / "p", denv.image, "cat code.txt; touch made-here", **{"code.txt": "v1"}
    )
    ids = []
    for _ in range(2):
        proc = mlrun("run", str(proj), "--build-image", "--json")
        res = result(proc)
        assert "v1" in proc.stderr  # --json moves the command's output to stderr
        ids.append(store().get_run(str(res["run_id"])).tags["mlflow.docker.image.id"])
    assert ids[0] == ids[1]
    tags = denv.docker(
        "images", "--format", "{{.Repository}}:{{.Tag}}", "mlrun-project-dock"
    ).stdout
    assert len(tags.split()) == 1
    assert not (proj / "made-here").exists()  # the code ran from the image, not the checkout
    (proj / "code.txt").write_text("v2")
    proc = mlrun("run", str(proj), "--build-image")
    assert proc.returncode == 0 and "v2" in proc.stdout, proc.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_is_killed_130_and_leaves_no_container(
    denv: Daemon, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    proj = project(
        tmp_path / "p", denv.image, "echo ready; exec python3 -c 'import time; time.sleep(60)'"
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(proj)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    child.send_signal(sig)
    _, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    assert time.monotonic() - t0 < 2.5  # the signal reached the command: no escalation
    assert f"KILLED (exit code {code})" in err
    assert leftovers(denv) == []


def test_a_container_left_by_a_killed_runner_is_stopped_as_lost(
    denv: Daemon, tmp_path: Path, mlrun: Mlrun
) -> None:
    proj = project(tmp_path / "p", denv.image, "trap '' INT TERM; echo ready; sleep 120")
    child = subprocess.Popen(
        [sys.executable, "-m", "mlrun_cli", "run", str(proj)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "MLRUN_KILL_GRACE": "0.5"},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.kill()  # SIGKILL: the runner runs no code of its own
    child.wait()
    time.sleep(2)  # its watcher ends the engine's client; the container ignores the signals
    assert len(leftovers(denv)) == 1
    proc = mlrun("runs", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    (run,) = store().search_runs([store().get_experiment_by_name("Default").experiment_id])  # type: ignore[union-attr]
    assert run.status == "KILLED"
    assert run.tags["mlrun.lost.reason"].endswith("its container was stopped")
    assert leftovers(denv) == []


def test_image_not_found_is_one_line_exit_2(denv: Daemon, tmp_path: Path, mlrun: Mlrun) -> None:
    proj = project(tmp_path / "p", "mlrun-no-such-image:1", "true")
    proc = mlrun("run", str(proj))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: image mlrun-no-such-image:1 is not on this machine's docker daemon and mlrun "
        "does not pull images; pull or load it first (docker pull mlrun-no-such-image:1)"
    ]
    assert not (Path.cwd() / ".mlrun").exists()  # refused before anything was recorded


def test_rerun_uses_the_recorded_image_id(denv: Daemon, tmp_path: Path, mlrun: Mlrun) -> None:
    name = "mlrun-test-moving:latest"
    denv.docker("tag", denv.image, name)
    proj = project(tmp_path / "p", name, "test ! -e /moved && echo same image")
    for argv in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *argv], cwd=proj, check=True)
    first = result(mlrun("run", str(proj), "--json"))
    # The name now points at another image: a rerun must still run the first one.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {denv.image}\nRUN touch /moved\n")
    denv.docker("build", "-q", "-t", name, str(ctx))
    again = mlrun("rerun", str(first["run_id"]), "--json")
    res = result(again)
    assert "same image" in again.stderr
    tags = store().get_run(str(res["run_id"])).tags
    assert (
        tags["mlflow.docker.image.id"]
        == store().get_run(str(first["run_id"])).tags["mlflow.docker.image.id"]
    )


@pytest.mark.parametrize(
    ("env", "want"),
    [
        ({"MLRUN_CONTAINER_ENGINE": "mlrun-no-such-engine"}, "is not an executable on PATH"),
        (
            {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
            "daemon at unix:///nonexistent/docker.sock is not running",
        ),
    ],
)
def test_engine_errors_are_one_line_exit_2(
    tmp_path: Path, mlrun: Mlrun, env: dict[str, str], want: str
) -> None:
    import shutil

    if "DOCKER_HOST" in env and shutil.which("docker") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no docker CLI to ask a daemon (.ci/run installs docker.io)")
        pytest.skip("no docker CLI to ask a daemon")
    proj = project(tmp_path / "p", "anything:1", "true")
    proc = mlrun(
        "run",
        str(proj),
        env={**env, "MLRUN_CONTAINER_ENGINE": env.get("MLRUN_CONTAINER_ENGINE", "docker")},
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and want in lines[0], lines
    assert not (Path.cwd() / ".mlrun").exists()  # refused before anything was recorded


def test_permission_denied_on_the_socket_is_one_line_exit_2(tmp_path: Path) -> None:
    # A socket its owner may not use, and mlrun run without the capabilities that would let
    # root use it anyway: the engine's real "permission denied".
    import shutil
    import socket

    if os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("docker") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("needs root, setpriv and docker to make a socket we may not use")
        pytest.skip("needs root, setpriv and docker to make a socket we may not use")
    path = tmp_path / "denied.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        path.chmod(0)
        listener.listen()
        proj = project(tmp_path / "p", "anything:1", "true")
        proc = subprocess.run(
            ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--",
             sys.executable, "-m", "mlrun_cli", "run", str(proj)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DOCKER_HOST": f"unix://{path}", "MLRUN_CONTAINER_ENGINE": "docker"},
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: permission denied on the docker socket at unix://{path} while looking for "
        "image anything:1; add your user to the docker group (then log in again) or point "
        "DOCKER_HOST at a socket you may use"
    ]
