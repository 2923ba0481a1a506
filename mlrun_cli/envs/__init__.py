"""Environment managers: one module each, one Protocol, a plain dict registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrun_cli.errors import EnvError
from mlrun_cli.project import Project


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


class EnvManager(Protocol):
    """Builds or finds the environment for a project."""

    name: str

    def prepare(self, project: Project) -> Environment:
        """Return a ready environment, building it if needed."""
        ...


def _local() -> EnvManager:
    from mlrun_cli.envs.local import LocalManager

    return LocalManager()


# Factories, so choosing a manager imports only that manager's module.
MANAGERS: dict[str, Callable[[], EnvManager]] = {"local": _local}


def default_manager(project: Project) -> str:
    """The manager the project's environment implies."""
    return "local"


def get_manager(name: str) -> EnvManager:
    try:
        factory = MANAGERS[name]
    except KeyError:
        raise EnvError(
            f"unknown environment manager {name!r}; use one of {', '.join(sorted(MANAGERS))}"
        ) from None
    return factory()
