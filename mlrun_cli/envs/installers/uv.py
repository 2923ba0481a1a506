"""uv: the `uv` manager's installer (creates the virtualenv and fills it).

uv is a dependency of mlrun-cli (its wheel ships the binary), so this is the default installer
wherever that binary runs. Every uv env shares uv's cache (`UV_CACHE_DIR`, default
`~/.cache/uv`): a package is downloaded and unpacked once, and each env gets its files by
uv's default link mode (a copy-on-write clone where the filesystem has them, else a hard
link; a full copy, with uv's warning in the build log, when the cache is on another
filesystem than the envs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mlrun_cli.envs.interpreters import find_uv, uv_problem, uv_version
from mlrun_cli.errors import EnvError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; a warm run constructs this class
if TYPE_CHECKING:
    from mlrun_cli.envs.installers.steps import InstallStep, ProgressLine

# Patterns as strings: `re` compiles (and caches) them on first use, which only a build makes.
_INSTALLED = r"^Installed (\d+) packages?"
_SUMMARY = r"^(Resolved \d+ packages?|Prepared \d+ packages?)"
# With -v, uv says what it selects while resolving, which distributions it has to fetch or
# build (and which it has), and each request for a distribution file.
_SELECTING = r"^DEBUG Selecting: (\S+)"
_UNCACHED = r"^DEBUG Identified uncached distribution: (\S+)"
_CACHED = r"^DEBUG (?:Registry r|R)equirement already cached: (\S+)"
_FETCHING = r"^DEBUG Sending fresh GET request for: (\S+\.(?:whl|zip|tar\.gz|tar\.bz2))$"

NOT_INSTALLED = (
    "uv is not installed; it comes with mlrun-cli (reinstall it: pip install --force-reinstall "
    "mlrun-cli), or put uv on PATH, or use --env-manager virtualenv"
)


class UvInstaller:
    """uv venv + uv pip install.

    The uv binary is looked up by `check`, not at construction: a manager is constructed
    just to validate its name, where a missing uv is no error yet.
    """

    name = "uv"

    def __init__(self, exe: str | None = None) -> None:
        self._exe = exe

    def check(self) -> None:
        """Find uv and make sure it runs here; say what to do if not."""
        exe = find_uv()
        if exe is None:
            raise EnvError(NOT_INSTALLED)
        problem = uv_problem(exe)
        if problem is not None:
            raise EnvError(f"uv cannot run here: {problem}; use --env-manager virtualenv")
        self._exe = exe

    @property
    def exe(self) -> str:
        """The uv binary (found by `check` if it was not given)."""
        if self._exe is None:
            self.check()
        assert self._exe is not None
        return self._exe

    def describe(self) -> str:
        """What the build line names as the installer: uv and its version."""
        version = uv_version(self.exe)
        return f"uv {version}" if version else "uv"

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
        """One step: uv installs build tools and requirements together in one resolution.

        No --compile-bytecode: compiling every file would take most of the build, and most
        are never imported; bytecode is compiled in the background once the env is ready
        (envs.bytecode). -v: uv's progress (what it selects, fetches) is in its debug lines.
        """
        from mlrun_cli.envs.installers.steps import InstallStep  # build time only

        items = [
            *build_dependencies,
            *(["-r", str(requirements)] if requirements is not None else []),
        ]
        if not items:
            return []
        argv = (self.exe, "pip", "install", "-v", "--python", str(python), *items)
        total = len(build_dependencies) + (count if requirements is not None else 0)
        return [InstallStep("requirements", argv, total)]

    def freeze_command(self, python: Path) -> list[str]:
        """uv pip freeze for the env's interpreter."""
        return [self.exe, "pip", "freeze", "--quiet", "--python", str(python)]

    def parse_line(self, line: str) -> ProgressLine | None:
        """uv's summary lines (resolved, prepared, installed), and from its debug lines the
        packages it selects, the distributions it needs and each file it fetches."""
        from mlrun_cli.envs.installers.steps import (  # build time only
            DOWNLOADING,
            INSTALLING,
            RESOLVING,
            Expect,
            Installed,
            Summary,
            Tick,
        )

        line = line.strip()
        if line.startswith("DEBUG "):
            selecting = re.match(_SELECTING, line)
            if selecting:
                return Tick(RESOLVING, selecting.group(1))
            if re.match(_UNCACHED, line):
                return Expect(DOWNLOADING, 1)
            if re.match(_CACHED, line):
                return Expect(INSTALLING, 1)
            fetching = re.match(_FETCHING, line)
            if fetching:
                return Tick(DOWNLOADING, fetching.group(1).rsplit("/", 1)[-1])
            return None
        summary = re.match(_SUMMARY, line)
        if summary:
            return Summary(summary.group(1))
        installed = re.match(_INSTALLED, line)
        if installed:
            return Installed(int(installed.group(1)))
        return None
