"""What is judged before a docker_env run is recorded: the manager, the options, the
project's variables, the engine; and what cannot be submitted to a cluster."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlrun_cli.containers.command import docker_args
from mlrun_cli.containers.image import Image, content_key, derived_tag, project_files
from mlrun_cli.errors import EnvError, ProjectError
from mlrun_cli.run.provenance import run_tags
from mlrun_cli.run.request import RunRequest, plan
from tests.conftest import write_project

DOCKER = (
    "name: d\ndocker_env:\n  image: img:1\n{extra}entry_points:\n  main:\n    command: 'true'\n"
)


def docker_project(root: Path, extra: str = "") -> Path:
    return write_project(root, DOCKER.format(extra=extra))


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in engine that has every image (the plan asks for it before recording) and
    # runs nothing; the real daemon is tests/integration/test_docker.py's.
    exe = tmp_path / "bin" / "stand-in-engine"
    exe.parent.mkdir()
    exe.write_text(
        '#!/bin/sh\n[ "$1 $2" = "image inspect" ] && '
        'echo \'[{"Id": "sha256:0123", "RepoDigests": []}]\'\nexit 0\n'
    )
    exe.chmod(0o755)
    monkeypatch.setenv("MLRUN_CONTAINER_ENGINE", str(exe))


def test_a_docker_env_project_runs_in_docker_by_default(tmp_path: Path, engine: None) -> None:
    with plan(RunRequest(uri=str(docker_project(tmp_path / "p")))) as p:
        assert p.env_manager == "docker"
    with plan(RunRequest(uri=str(tmp_path / "p"), env_manager="local")) as p:
        assert p.env_manager == "local"


def test_an_unset_copied_variable_is_refused_before_recording(
    tmp_path: Path, engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLRUN_TEST_UNSET", raising=False)
    proj = docker_project(tmp_path / "p", "  environment: [MLRUN_TEST_UNSET]\n")
    with pytest.raises(ProjectError) as caught:
        plan(RunRequest(uri=str(proj)))
    assert str(caught.value) == (
        f"{proj / 'MLproject'}: docker_env.environment copies MLRUN_TEST_UNSET from the "
        "caller's environment, but it is not set; set it before running"
    )


def test_no_engine_is_refused_before_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("MLRUN_CONTAINER_ENGINE", raising=False)
    with pytest.raises(
        EnvError, match=r"^this project declares docker_env but no container engine"
    ):
        plan(RunRequest(uri=str(docker_project(tmp_path / "p"))))


@pytest.mark.parametrize(
    ("req", "message"),
    [
        ({"build_image": True, "env_manager": "local"}, "--build-image and --docker-args apply"),
        (
            {"docker_args": ("gpus=all",), "env_manager": "uv"},
            "--build-image and --docker-args apply",
        ),
    ],
)
def test_container_options_need_docker(
    tmp_path: Path, engine: None, req: dict[str, object], message: str
) -> None:
    with pytest.raises(ProjectError, match=message):
        plan(RunRequest(uri=str(docker_project(tmp_path / "p")), **req))  # type: ignore[arg-type]


def test_docker_needs_a_docker_env_project(tmp_path: Path) -> None:
    proj = write_project(tmp_path / "p", "entry_points:\n  main:\n    command: 'true'\n")
    with pytest.raises(
        ProjectError, match="declares no docker_env, so it cannot run in a container"
    ):
        plan(RunRequest(uri=str(proj), build_image=True))


def test_a_cluster_backend_refuses_a_run_in_docker(tmp_path: Path, engine: None) -> None:
    with plan(RunRequest(uri=str(docker_project(tmp_path / "p")))) as p:
        with pytest.raises(
            EnvError, match="runs in docker only on this machine; the slurm backend"
        ):
            run_tags(p, "me", "name", "slurm")
        assert run_tags(p, "me", "name")["mlflow.project.env"] == "docker"


@pytest.mark.parametrize("given", ["name=x", "network=bridge", "--net bridge", "d"])
def test_docker_args_that_would_break_the_run_are_refused(given: str) -> None:
    with pytest.raises(ProjectError, match="is set by mlrun"):
        docker_args([given])


def test_docker_args_read_as_mlflow_reads_them() -> None:
    assert docker_args(["gpus=all", "u=1000", "shm-size=1g", "--cpus 2"]) == [
        "--gpus", "all", "-u", "1000", "--shm-size", "1g", "--cpus", "2",
    ]  # fmt: skip


def test_the_derived_tag_follows_the_content(tmp_path: Path) -> None:
    root = write_project(tmp_path / "My Proj", DOCKER.format(extra=""), {"a.py": "1"})
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("x")
    base = Image(ref="img:1", id="sha256:" + "0" * 64)
    files = project_files(root)
    assert [str(f) for f in files] == ["MLproject", "a.py"]
    user = f"{os.getuid()}:{os.getgid()}"
    key = content_key(base, root, files, user)
    assert derived_tag(None, root, key) == f"mlrun-project-my-proj:{key[:16]}"
    (root / ".git" / "HEAD").write_text("y")  # outside the copy: same key
    assert content_key(base, root, files, user) == key
    (root / "a.py").write_text("2")
    assert content_key(base, root, files, user) != key
