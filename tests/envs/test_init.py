"""The registry and the contract in mlrun_cli.envs."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.envs import (
    MANAGERS,
    BuildInterrupted,
    default_manager,
    get_manager,
    manager_names,
)
from mlrun_cli.envs.conda import CondaManager
from mlrun_cli.envs.local import LocalManager
from mlrun_cli.envs.virtualenv import VirtualenvManager
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import load_project
from tests.conftest import write_project

ENTRY = "entry_points: {main: {command: 'true'}}\n"


def test_manager_names_in_the_order_the_cli_lists_them() -> None:
    assert manager_names() == ("local", "virtualenv", "uv", "conda", "docker")
    assert manager_names() == tuple(MANAGERS)


@pytest.mark.parametrize(
    ("name", "cls", "installer"),
    [
        ("local", LocalManager, None),
        ("virtualenv", VirtualenvManager, "pip"),
        ("uv", VirtualenvManager, "uv"),
        ("conda", CondaManager, None),
    ],
)
def test_every_registered_name_builds_its_manager(
    name: str, cls: type, installer: str | None
) -> None:
    manager = get_manager(name)
    assert isinstance(manager, cls)
    assert manager.name == name
    if installer is not None:
        assert isinstance(manager, VirtualenvManager)
        assert manager.installer.name == installer  # virtualenv means pip, uv means uv


def test_unknown_manager_names_the_choices() -> None:
    with pytest.raises(
        EnvError,
        match=(
            r"^unknown environment manager 'podman'; use one of conda, docker, local, uv, "
            r"virtualenv$"
        ),
    ):
        get_manager("podman")


def test_default_manager_follows_the_declared_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlrun_cli.envs.interpreters import find_uv

    none = load_project(write_project(tmp_path / "none", ENTRY))
    conda = load_project(
        write_project(tmp_path / "conda", ENTRY, {"conda.yaml": "dependencies: [python]\n"})
    )
    python = load_project(
        write_project(tmp_path / "py", ENTRY, {"python_env.yaml": "dependencies: []\n"})
    )
    assert default_manager(none) == "local"
    assert default_manager(conda) == "conda"
    docker = load_project(write_project(tmp_path / "docker", "docker_env: {image: x}\n" + ENTRY))
    assert default_manager(docker) == "docker"
    assert default_manager(python) == ("uv" if find_uv() else "virtualenv")
    monkeypatch.setattr("mlrun_cli.envs.interpreters.find_uv", lambda: None)  # no uv here
    assert default_manager(python) == "virtualenv"


def test_build_interrupted_is_an_env_error_with_exit_code_130() -> None:
    exc = BuildInterrupted()
    assert isinstance(exc, EnvError)
    assert exc.exit_code == 130
    assert str(exc) == "interrupted while building the environment; nothing was kept"
