"""virtualenv + pip: the `virtualenv` manager's installer."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; a warm run constructs this class
if TYPE_CHECKING:
    from mlrun_cli.envs.installers.steps import InstallStep, ProgressLine

# Patterns as strings: `re` compiles (and caches) them on first use, which only a build makes.
_INSTALLED = r"^Successfully installed (.+)$"
_COLLECTING = r"^Collecting (\S+)"
# A distribution file fetched (or taken from pip's cache); metadata-only fetches are not.
_DOWNLOADING = r"^(?:Downloading|Using cached) (\S+\.(?:whl|zip|tar\.gz|tar\.bz2))(?:\s|$)"
_INSTALLING = r"^Installing collected packages: (.+)$"


class PipInstaller:
    """Creates the env with virtualenv (run by mlrun's own interpreter), fills it with pip."""

    name = "pip"

    def check(self) -> None:
        """Nothing to look for: virtualenv and pip come with mlrun."""

    def describe(self) -> str:
        """What the build line names as the installer, and why not uv when uv cannot run
        (the default falls back to this installer then; saying so once, at build time)."""
        from mlrun_cli.envs.interpreters import find_uv, uv_problem

        exe = find_uv()
        problem = "uv is not installed" if exe is None else uv_problem(exe)
        if problem is None:
            return "virtualenv + pip"
        if not problem.startswith("uv "):
            problem = f"uv cannot run here: {problem}"
        return f"virtualenv + pip ({problem})"

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
        """pip names each package as it resolves it and each file it fetches, lists what it is
        about to install, and what it installed at the end."""
        from mlrun_cli.envs.installers.steps import (  # build time only
            DOWNLOADING,
            INSTALLING,
            RESOLVING,
            Expect,
            Installed,
            Tick,
        )

        line = line.strip()
        collecting = re.match(_COLLECTING, line)
        if collecting:
            return Tick(RESOLVING, collecting.group(1))
        downloading = re.match(_DOWNLOADING, line)
        if downloading:
            return Tick(DOWNLOADING, downloading.group(1))
        installing = re.match(_INSTALLING, line)
        if installing:
            return Expect(INSTALLING, len(installing.group(1).split(",")))
        installed = re.match(_INSTALLED, line)
        if installed:
            return Installed(len(installed.group(1).split()))
        return None

    def _install(self, python: Path, items: Sequence[str]) -> tuple[str, ...]:
        # --no-compile: the env is ready when its files are in place; bytecode is compiled in
        # the background once it is (envs.bytecode), not on the critical path of the build.
        return (
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--no-compile",
            *items,
        )
