"""Conda environments: a prefix env in our cache, built by conda, mamba or micromamba."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from mlrun_cli import console
from mlrun_cli.digest import sha256
from mlrun_cli.envs import Environment
from mlrun_cli.envs import cache as envcache
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import Project

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.envs.buildlog import BuildLog

_NAMES = ("conda", "mamba", "micromamba")


def find_conda() -> str:
    """``MLRUN_CONDA_EXE``, then ``CONDA_EXE``, then conda, mamba or micromamba on PATH."""
    for var in ("MLRUN_CONDA_EXE", "CONDA_EXE"):
        value = os.environ.get(var)
        if value:
            exe = shutil.which(value)
            if exe is None:
                raise EnvError(f"{var}={value} is not an executable; fix it or unset it")
            return exe
    for name in _NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    raise EnvError(
        "no conda, mamba or micromamba found (looked at MLRUN_CONDA_EXE, CONDA_EXE and PATH); "
        "install one, or run the project with --env-manager virtualenv or uv"
    )


def create_command(exe: str, prefix: Path, env_file: Path) -> list[str]:
    """The command that creates a prefix env from `env_file` with this conda flavour."""
    if Path(exe).name.startswith("micromamba"):
        return [exe, "create", "--yes", "--prefix", str(prefix), "--file", str(env_file)]
    return [exe, "env", "create", "--quiet", "--prefix", str(prefix), "--file", str(env_file)]


def pip_command(prefix: Path, requirements: Path) -> list[str]:
    """The command that installs `requirements` with the prefix env's own pip."""
    return [
        str(prefix / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--compile",
        "-r",
        str(requirements),
    ]


def env_file_for(project: Project, prefix: Path) -> tuple[Path, bytes]:
    """The conda file to build from: the project's conda.yaml, or one made from python_env."""
    env = project.env
    if env.kind == "conda_env" and env.path is not None:
        return env.path, env.path.read_bytes()
    if env.kind == "python_env" and env.path is not None:
        import yaml

        from mlrun_cli.envs.spec import load_python_env

        spec = load_python_env(env.path, project.dir)
        deps: list[Any] = [f"python={spec.python}" if spec.python else "python", "pip"]
        pip = [*spec.build_dependencies, *spec.dependencies]
        if pip:
            deps.append({"pip": pip})
        text = yaml.safe_dump({"name": "mlrun", "dependencies": deps}).encode()
        return prefix / "mlrun-conda.yaml", text
    raise EnvError(
        f"{project.dir}: declares no conda or python environment; use --env-manager local"
    )


class CondaManager:
    """A conda prefix env in the env cache, built from the project's conda.yaml."""

    name = "conda"

    def prepare(
        self,
        project: Project,
        *,
        frozen: Path | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Environment:
        """The project's conda env from the cache, built first if it is not there."""
        exe = find_conda()
        # Only the file's content goes into the key; the prefix is not known yet.
        _, content = env_file_for(project, Path("/nonexistent"))
        frozen_text = frozen.read_text() if frozen is not None else None
        key = envcache.make_key(
            self.name,
            {
                "conda": Path(exe).name,
                "env_file": sha256(content).hexdigest(),
                "frozen": frozen_text,
                "platform": envcache.platform_tag(),
            },
        )

        def build(prefix: Path, log: BuildLog) -> Mapping[str, Any]:
            from mlrun_cli.envs.buildlog import check_interpreter

            console.info(f"building environment {key.name} with {Path(exe).name}")
            env_file, text = env_file_for(project, prefix)
            if env_file.parent == prefix:
                env_file.write_bytes(text)
            log.run(
                create_command(exe, prefix, env_file),
                step="creating the conda env",
                cwd=project.dir,
            )
            if frozen_text is not None:
                pins = prefix / "mlrun-frozen.txt"
                pins.write_text(frozen_text)
                log.run(pip_command(prefix, pins), step="installing the recorded pins")
            python = prefix / "bin" / "python"
            freeze = log.run([str(python), "-m", "pip", "freeze", "--all"], step="listing packages")
            (prefix / envcache.FREEZE).write_text(freeze)
            return {"python_version": check_interpreter(log, python)}

        def health(prefix: Path, marker: Mapping[str, Any]) -> str | None:
            return None if (prefix / "bin" / "python").exists() else "its interpreter is missing"

        prefix, marker, reused = envcache.ensure(
            key, build=build, health=health, cancelled=cancelled, project=str(project.dir)
        )
        return Environment(
            manager=self.name,
            python=str(prefix / "bin" / "python"),
            bin_dir=prefix / "bin",
            key=key.name,
            python_version=marker.get("python_version"),
            reused=reused,
            extra_env={"CONDA_PREFIX": str(prefix)},
            freeze_file=prefix / envcache.FREEZE,
        )
