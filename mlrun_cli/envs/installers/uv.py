"""uv: the `uv` manager's installer (creates the virtualenv and fills it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlrun_cli.envs.interpreters import find_uv
from mlrun_cli.errors import EnvError

if TYPE_CHECKING:
    from mlrun_cli.envs.installers.steps import InstallStep, ProgressLine

_INSTALLED = re.compile(r"^Installed (\d+) packages?")
_SUMMARY = re.compile(r"^(Resolved \d+ packages?|Prepared \d+ packages?)")


class UvInstaller:
    """uv venv + uv pip install.

    The uv binary is looked up by `check`, not at construction: a manager is constructed
    just to validate its name, where a missing uv is no error yet.
    """

    name = "uv"

    def __init__(self, exe: str | None = None) -> None:
        self._exe = exe

    def check(self) -> None:
        """Find uv (on PATH, or the `mlrun-cli[uv]` extra's binary); say how to get it if not."""
        exe = find_uv()
        if exe is None:
            raise EnvError(
                "uv is not installed; install it (pip install 'mlrun-cli[uv]') or use "
                "--env-manager virtualenv"
            )
        self._exe = exe

    @property
    def exe(self) -> str:
        """The uv binary (found by `check` if it was not given)."""
        if self._exe is None:
            self.check()
        assert self._exe is not None
        return self._exe

    def create_command(self, interpreter: Path, env_dir: Path) -> list[str]:
        """uv venv; --allow-existing because the cache has made the (empty) directory."""
        return [
            self.exe,
            "venv",
            "--quiet",
            "--allow-existing",
            "--python",
            str(interpreter),
            str(env_dir),
        ]

    def install_steps(
        self,
        python: Path,
        build_dependencies: Sequence[str],
        requirements: Path | None,
        count: int,
    ) -> list[InstallStep]:
        """One step: uv installs build tools and requirements together in one resolution."""
        from mlrun_cli.envs.installers.steps import InstallStep  # build time only

        items = [
            *build_dependencies,
            *(["-r", str(requirements)] if requirements is not None else []),
        ]
        if not items:
            return []
        argv = (self.exe, "pip", "install", "--python", str(python), "--compile-bytecode", *items)
        total = len(build_dependencies) + (count if requirements is not None else 0)
        return [InstallStep("requirements", argv, total)]

    def freeze_command(self, python: Path) -> list[str]:
        """uv pip freeze for the env's interpreter."""
        return [self.exe, "pip", "freeze", "--python", str(python)]

    def parse_line(self, line: str) -> ProgressLine | None:
        """uv prints a few summary lines (resolved, prepared, installed), nothing per package."""
        from mlrun_cli.envs.installers.steps import Installed, Summary  # build time only

        line = line.strip()
        summary = _SUMMARY.match(line)
        if summary:
            return Summary(summary.group(1))
        installed = _INSTALLED.match(line)
        if installed:
            return Installed(int(installed.group(1)))
        return None
