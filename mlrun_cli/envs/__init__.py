"""Environment managers: one module each, one Protocol, a plain dict registry.

The contract lives here (`Environment`, `EnvManager`, `BuildInterrupted`) and so does the
registry; the manager modules depend on this package, never the other way round except
through the registry's factories, which import a manager's module only when it is chosen
(`mlrun run --env-manager local` loads nothing of virtualenvs or conda).

Adding a manager: a module with a class satisfying `EnvManager`, and one entry in `MANAGERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlrun_cli.errors import EnvError
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # the protocols below are for type checkers only

if TYPE_CHECKING:  # annotations only: importing envs must stay cheap for the CLI
    from mlrun_cli.project.mlproject import Project


@valueclass
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


class BuildInterrupted(EnvError):
    """The build was stopped because mlrun was interrupted; nothing half-built is kept."""

    def __init__(self) -> None:
        super().__init__("interrupted while building the environment; nothing was kept")
        self.exit_code = 130


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
        reproducing a recorded run; `cancelled` is polled during a build, which stops (raising
        `BuildInterrupted`, and leaving nothing behind) when it returns True.
        """
        ...


# Each factory imports its manager's module when called, so choosing a manager loads only it.
# Constructing a manager must stay cheap and never fail: the run flow builds one just to
# validate the name before anything is recorded; missing tools are reported by `prepare`.


def _local() -> EnvManager:
    from mlrun_cli.envs.local import LocalManager

    return LocalManager()


def _virtualenv() -> EnvManager:
    from mlrun_cli.envs.installers.pip import PipInstaller
    from mlrun_cli.envs.virtualenv import VirtualenvManager

    return VirtualenvManager("virtualenv", PipInstaller())


def _uv() -> EnvManager:
    from mlrun_cli.envs.installers.uv import UvInstaller
    from mlrun_cli.envs.virtualenv import VirtualenvManager

    return VirtualenvManager("uv", UvInstaller())


def _conda() -> EnvManager:
    from mlrun_cli.envs.conda import CondaManager

    return CondaManager()


def _docker() -> EnvManager:
    from mlrun_cli.envs.docker import DockerManager

    return DockerManager()


# The registry, in the order the CLI lists the managers.
MANAGERS: dict[str, Callable[[], EnvManager]] = {
    "local": _local,
    "virtualenv": _virtualenv,
    "uv": _uv,
    "conda": _conda,
    "docker": _docker,
}


def manager_names() -> tuple[str, ...]:
    """The registered manager names, in the order the CLI offers them."""
    return tuple(MANAGERS)


def default_manager(project: Project) -> str:
    """The manager the project's environment implies.

    python_env: uv when it can run here (it is a dependency of mlrun-cli, so normally it can),
    else virtualenv + pip; conda_env: conda; docker_env: docker; nothing declared: local.
    Whether uv runs is asked once per uv binary and remembered, so this starts no process on
    a warm run.
    """
    if project.env.kind == "python_env":
        from mlrun_cli.envs.interpreters import usable_uv

        return "uv" if usable_uv() else "virtualenv"
    if project.env.kind == "conda_env":
        return "conda"
    if project.env.kind == "docker_env":
        return "docker"
    return "local"


def get_manager(name: str) -> EnvManager:
    """The manager registered as `name`; an `EnvError` naming the choices if there is none."""
    try:
        factory = MANAGERS[name]
    except KeyError:
        raise EnvError(
            f"unknown environment manager {name!r}; use one of {', '.join(sorted(MANAGERS))}"
        ) from None
    return factory()
