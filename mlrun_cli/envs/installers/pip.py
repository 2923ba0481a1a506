"""virtualenv + pip: the `virtualenv` manager's installer."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlrun_cli.envs.installers.steps import InstallStep, ProgressLine

_INSTALLED = re.compile(r"^Successfully installed (.+)$")
_COLLECTING = re.compile(r"^Collecting (\S+)")


class PipInstaller:
    """Creates the env with virtualenv (run by mlrun's own interpreter), fills it with pip."""

    name = "pip"

    def check(self) -> None:
        """Nothing to look for: virtualenv and pip come with mlrun."""

    def create_command(self, interpreter: Path, env_dir: Path) -> list[str]:
        """virtualenv, without its periodic self-update check."""
        return [
            sys.executable,
            "-m",
            "virtualenv",
            "--no-periodic-update",
            "--quiet",
            "-p",
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
        """Build dependencies, then the requirements file, each in a pip run of its own.

        The build dependencies go first so that they are in place before anything that
        needs them is built (MLflow's python_env semantics).
        """
        from mlrun_cli.envs.installers.steps import InstallStep  # build time only

        steps: list[InstallStep] = []
        if build_dependencies:
            steps.append(
                InstallStep(
                    "build requirements",
                    self._install(python, build_dependencies),
                    len(build_dependencies),
                )
            )
        if requirements is not None:
            steps.append(
                InstallStep("requirements", self._install(python, ["-r", str(requirements)]), count)
            )
        return steps

    def freeze_command(self, python: Path) -> list[str]:
        """pip freeze --all, so pip, setuptools and wheel are listed too."""
        return [str(python), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"]

    def parse_line(self, line: str) -> ProgressLine | None:
        """pip names each package as it resolves it, and lists what it installed at the end."""
        from mlrun_cli.envs.installers.steps import Collecting, Installed  # build time only

        line = line.strip()
        collecting = _COLLECTING.match(line)
        if collecting:
            return Collecting(collecting.group(1))
        installed = _INSTALLED.match(line)
        if installed:
            return Installed(len(installed.group(1).split()))
        return None

    def _install(self, python: Path, items: Sequence[str]) -> tuple[str, ...]:
        # --compile: bytecode at build time, so runs under PYTHONDONTWRITEBYTECODE are not slower.
        return (
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--compile",
            *items,
        )
