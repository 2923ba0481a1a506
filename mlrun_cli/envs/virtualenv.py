"""Python virtual environments, created and filled by an installer (`installers/`).

The `virtualenv` manager uses pip and the `uv` manager uses uv: one manager class, two
installers. The project's python_env.yaml (or the python version and pip section of its
conda.yaml) says what to install; the interpreter is found among those on the machine.
An env is ready when the installer is done: its bytecode is compiled in the background from
then on (`bytecode`), so a first run does not wait for it and later runs, also under
PYTHONDONTWRITEBYTECODE, find it compiled.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from mlrun_cli import console
from mlrun_cli.envs import Environment, bytecode
from mlrun_cli.envs import cache as envcache
from mlrun_cli.envs.interpreters import Interpreter, find
from mlrun_cli.envs.spec import PythonEnvSpec, load_conda_as_python_env, load_python_env
from mlrun_cli.project.mlproject import Project

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:  # what only a build needs is imported by the build (a warm run stays small)
    from typing import Any

    from mlrun_cli.envs.buildlog import BuildLog
    from mlrun_cli.envs.installers import Installer
    from mlrun_cli.envs.installers.steps import InstallStep
    from mlrun_cli.envs.progress import Progress


def project_spec(project: Project) -> PythonEnvSpec:
    """The python environment a project asks for (empty for a project that declares none)."""
    env = project.env
    if env.kind == "python_env" and env.path is not None:
        return load_python_env(env.path, project.dir)
    if env.kind == "conda_env" and env.path is not None:
        spec = load_conda_as_python_env(env.path, project.dir)
        if spec.conda_only:
            console.warn(
                f"{env.path.name}: conda-only packages are not installed in a virtualenv: "
                f"{', '.join(spec.conda_only)}; use --env-manager conda for them"
            )
        return spec
    return PythonEnvSpec(python=None)


class VirtualenvManager:
    """A virtualenv in the env cache, built by `installer`; registered as `name`."""

    def __init__(self, name: str, installer: Installer) -> None:
        self.name = name
        self.installer = installer

    def prepare(
        self,
        project: Project,
        *,
        frozen: Path | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Environment:
        """The project's virtualenv from the cache, built first if it is not there."""
        spec = project_spec(project)
        interp = find(spec.python)
        self.installer.check()
        frozen_text = freeze_text(frozen.read_text()) if frozen is not None else None
        # Every input that changes what gets installed; the names are part of existing keys.
        key = envcache.make_key(
            self.name,
            {
                "installer": self.installer.name,
                "python": interp.version,
                "interpreter": str(interp.path),
                "build_dependencies": list(spec.build_dependencies),
                "dependencies": list(spec.dependencies),
                "files": dict(spec.files),
                "frozen": frozen_text,
                "platform": envcache.platform_tag(),
            },
        )

        def build(env_dir: Path, log: BuildLog) -> Mapping[str, Any]:
            return self._build(env_dir, log, spec, interp, frozen_text, project.dir)

        env_dir, marker, reused = envcache.ensure(
            key,
            build=build,
            health=check_health,
            cancelled=cancelled,
            project=str(project.dir),
        )
        if reused:
            console.detail(f"reusing environment {key.name}")
        self._compile_bytecode(env_dir, key.name, marker, reused, project.dir)
        return Environment(
            manager=self.name,
            python=str(env_dir / "bin" / "python"),
            bin_dir=env_dir / "bin",
            key=key.name,
            python_version=str(marker.get("python_version") or interp.version),
            reused=reused,
            freeze_file=env_dir / envcache.FREEZE,
        )

    def _compile_bytecode(
        self, env_dir: Path, name: str, marker: Mapping[str, Any], reused: bool, project_dir: Path
    ) -> None:
        """Start the background compile of a new env, or of one whose compile was cut short."""
        if marker.get("bytecode") != bytecode.BACKGROUND:
            return  # built when the installer compiled everything
        started = bytecode.start(env_dir, name, envcache.build_log_path(name), project_dir)
        if started and not reused:
            console.info("  compiling bytecode in the background (mlrun envs list shows it)")
        elif started:
            console.detail(f"compiling the rest of {name}'s bytecode in the background")

    def _build(
        self,
        env_dir: Path,
        log: BuildLog,
        spec: PythonEnvSpec,
        interp: Interpreter,
        frozen_text: str | None,
        project_dir: Path,
    ) -> Mapping[str, Any]:
        """Create, install, freeze, check: the steps of a build, in order."""
        from mlrun_cli.envs.buildlog import check_interpreter
        from mlrun_cli.envs.progress import Progress

        t0 = time.monotonic()
        console.info(
            f"building environment {env_dir.name} (python {interp.version}) "
            f"with {self.installer.describe()}"
        )
        python = env_dir / "bin" / "python"
        env = _build_environ(env_dir)
        log.run(
            self.installer.create_command(interp.path, env_dir),
            step="creating the virtualenv",
            env=env,
        )
        requirements, count = write_requirements(env_dir, spec, frozen_text)
        progress = Progress(self.installer.parse_line, env_dir)
        steps = self.installer.install_steps(python, spec.build_dependencies, requirements, count)
        for step in steps:
            _install(log, step, progress, cwd=project_dir, env=env)
        freeze = log.run(self.installer.freeze_command(python), step="listing packages", env=env)
        write_freeze(env_dir, freeze)
        version = check_interpreter(log, python, env)
        console.info(
            f"  installed {progress.installed} packages in {time.monotonic() - t0:.1f}s; "
            f"log: {log.path}"
        )
        return {
            "python_version": version,
            "interpreter": str(interp.path),
            "installer": self.installer.describe(),
            "bytecode": bytecode.BACKGROUND,
        }


def write_requirements(
    env_dir: Path, spec: PythonEnvSpec, frozen_text: str | None
) -> tuple[Path | None, int]:
    """Write the env's requirements file: the project's dependencies, or the recorded pins.

    Returns the file to install from (None when it has no lines) and its number of lines.
    """
    lines = list(spec.dependencies)
    if frozen_text is not None:
        # The pins replace the dependencies; they are kept in a file of their own in the env.
        (env_dir / "mlrun-frozen.txt").write_text(frozen_text)
        lines = [f"-r {env_dir / 'mlrun-frozen.txt'}"]
    requirements = env_dir / "mlrun-requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    return (requirements if lines else None), len(lines)


# What installers print beside the package list (merged into the step's output): uv's
# "Using Python 3.11.7 environment at: ...", pip's warnings and notices.
_NOT_PACKAGES = ("#", "Using Python ", "WARNING", "DEPRECATION", "[notice]", "warning:")


def freeze_text(freeze_output: str) -> str:
    """Only the package lines of a freeze (also of one recorded before they were cleaned)."""
    lines = [ln for ln in freeze_output.splitlines() if ln and not ln.startswith(_NOT_PACKAGES)]
    return "\n".join(lines) + "\n"


def write_freeze(env_dir: Path, freeze_output: str) -> None:
    """Keep the installer's package list (nothing else) as the env's freeze file."""
    (env_dir / envcache.FREEZE).write_text(freeze_text(freeze_output))


def check_health(env_dir: Path, marker: Mapping[str, Any]) -> str | None:
    """Cheap checks on reuse (no subprocess): interpreter present and of the recorded version."""
    python = env_dir / "bin" / "python"
    if not python.exists():  # follows the symlink: a removed base interpreter fails here
        return "its interpreter is missing"
    if not os.access(python, os.X_OK):
        return "its interpreter is not executable"
    cfg = env_dir / "pyvenv.cfg"
    try:
        text = cfg.read_text()
    except OSError:
        return "pyvenv.cfg is missing"
    m = re.search(r"^version(?:_info)?\s*=\s*([0-9.]+)", text, re.MULTILINE)
    wanted = marker.get("python_version")
    if m and wanted and not (m.group(1) + ".").startswith(str(wanted) + "."):
        return f"its interpreter is {m.group(1)}, expected {wanted}"
    return None


def _build_environ(env_dir: Path) -> dict[str, str]:
    # The installers must see the new env as the active one, and nothing of the caller's
    # interpreter setup (PYTHONHOME) or pip policy (PIP_REQUIRE_VIRTUALENV) in the way.
    env = {**os.environ, "VIRTUAL_ENV": str(env_dir)}
    env.pop("PYTHONHOME", None)
    env.pop("PIP_REQUIRE_VIRTUALENV", None)
    return env


def _install(
    log: BuildLog, step: InstallStep, progress: Progress, *, cwd: Path, env: Mapping[str, str]
) -> None:
    n = step.count
    console.info(f"  installing {n} {step.what[:-1] if n == 1 else step.what}")
    progress.start_step()
    log.run(
        step.argv,
        step=f"installing {step.what}",
        cwd=cwd,
        env=env,
        on_line=progress.feed,
        on_idle=progress.poll,
    )
    progress.step_done()
