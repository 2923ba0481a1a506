"""Environment managers: one module each, one Protocol, a plain dict registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import Project


@dataclass(frozen=True)
class Environment:
    """A ready environment: what to put in front of PATH and which interpreter it has."""

    manager: str
    python: str | None = None  # the interpreter the entry point runs with, if known
    bin_dir: Path | None = None  # prepended to PATH for the child
    key: str | None = None  # cache key, for environments we built
    python_version: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    reused: bool = True
    freeze_file: Path | None = None  # the env's frozen package list, recorded with each run


class EnvManager(Protocol):
    """Builds or finds the environment for a project."""

    name: str

    def prepare(
        self,
        project: Project,
        *,
        frozen: Path | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Environment:
        """Return a ready environment, building it if needed.

        `frozen` (a pip-freeze file) replaces the project's dependencies with exact pins, for
        reproducing a recorded run; `cancelled` is polled during a build, which stops (and
        leaves nothing behind) when it returns True.
        """
        ...


def _local() -> EnvManager:
    from mlrun_cli.envs.local import LocalManager

    return LocalManager()


def _virtualenv() -> EnvManager:
    from mlrun_cli.envs.virtualenv import VirtualenvManager

    return VirtualenvManager()


def _uv() -> EnvManager:
    from mlrun_cli.envs.virtualenv import UvManager

    return UvManager()


def _conda() -> EnvManager:
    from mlrun_cli.envs.conda import CondaManager

    return CondaManager()


# Factories, so choosing a manager imports only that manager's module.
MANAGERS: dict[str, Callable[[], EnvManager]] = {
    "local": _local,
    "virtualenv": _virtualenv,
    "uv": _uv,
    "conda": _conda,
}


def default_manager(project: Project) -> str:
    """The manager the project's environment implies.

    python_env: uv when it is available, else virtualenv; conda_env: conda; nothing declared
    (or docker_env with --env-manager local): local.
    """
    if project.env.kind == "python_env":
        from mlrun_cli.envs.interpreters import find_uv

        return "uv" if find_uv() else "virtualenv"
    if project.env.kind == "conda_env":
        return "conda"
    return "local"


def get_manager(name: str) -> EnvManager:
    try:
        factory = MANAGERS[name]
    except KeyError:
        raise EnvError(
            f"unknown environment manager {name!r}; use one of {', '.join(sorted(MANAGERS))}"
        ) from None
    return factory()
