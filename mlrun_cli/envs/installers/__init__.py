"""Installers: how a virtualenv is created and filled (pip or uv), behind one Protocol.

An installer only says which commands to run and what its output lines mean; running them
(through the build log) and showing progress is the virtualenv manager's. So an installer
is a few pure functions, tested without building anything. No installer compiles bytecode:
an env is ready when its files are in place (`envs.bytecode` compiles in the background).

What the installers return (`installers.steps`) is loaded only by a build: a warm run
constructs an installer and calls `check`, nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Protocol

    from mlrun_cli.envs.installers.steps import InstallStep, ProgressLine
else:
    Protocol = object  # the protocol below is for type checkers only


class Installer(Protocol):
    """The commands that create and fill a virtualenv, and the meaning of their output."""

    name: str  # recorded in the env's cache key and shown in "building environment ..."

    def check(self) -> None:
        """Raise `EnvError` (saying what to do) if the installer's tools are missing."""
        ...

    def describe(self) -> str:
        """The installer as the build line names it ("uv 0.5.2", "virtualenv + pip")."""
        ...

    def create_command(self, interpreter: Path, env_dir: Path) -> list[str]:
        """The command that creates an empty virtualenv at `env_dir` for `interpreter`."""
        ...

    def install_steps(
        self,
        python: Path,
        build_dependencies: Sequence[str],
        requirements: Path | None,
        count: int,
    ) -> list[InstallStep]:
        """The install commands, in order, for the env whose interpreter is `python`.

        `requirements` is a requirements file of `count` lines (None when there is nothing
        but build dependencies to install).
        """
        ...

    def freeze_command(self, python: Path) -> list[str]:
        """The command that lists the installed packages as pins, one a line."""
        ...

    def parse_line(self, line: str) -> ProgressLine | None:
        """What one line of the install commands' output says, if it is worth showing."""
        ...
