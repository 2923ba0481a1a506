"""Python virtual environments, installed with pip (`virtualenv`) or with uv (`uv`).

The project's python_env.yaml (or the python version and pip section of its conda.yaml) says
what to install; the interpreter is found among those on the machine. Bytecode is compiled
at build time by both installers, so runs under PYTHONDONTWRITEBYTECODE are not slower.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlrun_cli import console
from mlrun_cli.envs import Environment
from mlrun_cli.envs import cache as envcache
from mlrun_cli.envs.interpreters import Interpreter, find, find_uv
from mlrun_cli.envs.spec import PythonEnvSpec, load_conda_as_python_env, load_python_env
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import Project

_PIP_INSTALLED = re.compile(r"^Successfully installed (.+)$")
_UV_INSTALLED = re.compile(r"^Installed (\d+) packages?")
# Installer lines worth showing live during a cold build (uv's summaries, pip's downloads).
_SUMMARY = re.compile(r"^(Resolved \d+ packages?|Prepared \d+ packages?)")
_COLLECTING = re.compile(r"^Collecting (\S+)")


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


def _platform() -> str:
    return f"{sys.platform}-{os.uname().machine}"


class VirtualenvManager:
    """virtualenv + pip."""

    name = "virtualenv"
    installer = "pip"

    def _uv(self) -> str:
        uv = find_uv()
        if uv is None:
            raise EnvError(
                "uv is not installed; install it (pip install 'mlrun-cli[uv]') or use "
                "--env-manager virtualenv"
            )
        return uv

    def prepare(
        self,
        project: Project,
        *,
        frozen: Path | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Environment:
        spec = project_spec(project)
        interp = find(spec.python)
        uv = self._uv() if self.installer == "uv" else None
        frozen_text = frozen.read_text() if frozen is not None else None
        key = envcache.make_key(
            self.name,
            {
                "installer": self.installer,
                "python": interp.version,
                "interpreter": str(interp.path),
                "build_dependencies": list(spec.build_dependencies),
                "dependencies": list(spec.dependencies),
                "files": dict(spec.files),
                "frozen": frozen_text,
                "platform": _platform(),
            },
        )

        def build(env_dir: Path, log: envcache.BuildLog) -> Mapping[str, Any]:
            return self._build(env_dir, log, spec, interp, uv, frozen_text, project.dir)

        env_dir, marker, reused = envcache.ensure(
            key,
            build=build,
            health=_health,
            cancelled=cancelled,
            project=str(project.dir),
        )
        if reused:
            console.detail(f"reusing environment {key.name}")
        return Environment(
            manager=self.name,
            python=str(env_dir / "bin" / "python"),
            bin_dir=env_dir / "bin",
            key=key.name,
            python_version=str(marker.get("python_version") or interp.version),
            reused=reused,
            freeze_file=env_dir / envcache.FREEZE,
        )

    def _build(
        self,
        env_dir: Path,
        log: envcache.BuildLog,
        spec: PythonEnvSpec,
        interp: Interpreter,
        uv: str | None,
        frozen_text: str | None,
        project_dir: Path,
    ) -> Mapping[str, Any]:
        t0 = time.monotonic()
        label = f"environment {env_dir.name} (python {interp.version}, {self.installer})"
        console.info(f"building {label}")
        python = env_dir / "bin" / "python"
        env = {**os.environ, "VIRTUAL_ENV": str(env_dir)}
        env.pop("PYTHONHOME", None)
        env.pop("PIP_REQUIRE_VIRTUALENV", None)
        if uv is not None:
            log.run(
                [
                    uv,
                    "venv",
                    "--quiet",
                    "--allow-existing",
                    "--python",
                    str(interp.path),
                    str(env_dir),
                ],
                step="creating the virtualenv",
                env=env,
            )
        else:
            log.run(
                [
                    sys.executable,
                    "-m",
                    "virtualenv",
                    "--no-periodic-update",
                    "--quiet",
                    "-p",
                    str(interp.path),
                    str(env_dir),
                ],
                step="creating the virtualenv",
                env=env,
            )
        requirements = env_dir / "mlrun-requirements.txt"
        lines = list(spec.dependencies) if frozen_text is None else []
        if frozen_text is not None:
            (env_dir / "mlrun-frozen.txt").write_text(frozen_text)
            lines = [f"-r {env_dir / 'mlrun-frozen.txt'}"]
        requirements.write_text("\n".join(lines) + "\n")
        count = [0]

        collected: list[str] = []

        def on_line(line: str) -> None:
            summary = _SUMMARY.match(line.strip())
            if summary:
                console.info(f"    {summary.group(1)[0].lower()}{summary.group(1)[1:]}")
            collecting = _COLLECTING.match(line.strip())
            if collecting:
                # pip names each package as it resolves: one live line with the count.
                collected.append(collecting.group(1))
                console.progress(f"    collecting packages: {len(collected)} ({collected[-1]})")
            m = _PIP_INSTALLED.match(line.strip()) or _UV_INSTALLED.match(line.strip())
            if m:
                count[0] += int(m.group(1)) if m.group(1).isdigit() else len(m.group(1).split())

        steps: list[tuple[str, list[str], int]] = []
        build_deps = list(spec.build_dependencies)
        req_items = ["-r", str(requirements)] if lines else []
        if uv is not None:
            # uv installs build tools and requirements together in one resolution.
            if build_deps or req_items:
                steps.append(
                    ("requirements", [*build_deps, *req_items], len(build_deps) + len(lines))
                )
        else:
            if build_deps:
                steps.append(("build requirements", build_deps, len(build_deps)))
            if req_items:
                steps.append(("requirements", req_items, len(lines)))
        for what, items, n in steps:
            console.info(f"  installing {n} {what[:-1] if n == 1 else what}")
            if uv is not None:
                argv = [uv, "pip", "install", "--python", str(python), "--compile-bytecode", *items]
            else:
                argv = [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--compile",
                    *items,
                ]
            log.run(argv, step=f"installing {what}", cwd=project_dir, env=env, on_line=on_line)
            console.progress_done()
            if collected:
                console.info(f"    collected {len(collected)} packages")
                collected.clear()
        if uv is not None:
            freeze = log.run(
                [uv, "pip", "freeze", "--python", str(python)], step="listing packages", env=env
            )
        else:
            freeze = log.run(
                [str(python), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
                step="listing packages",
                env=env,
            )
        frozen_lines = [ln for ln in freeze.splitlines() if ln and not ln.startswith("#")]
        (env_dir / envcache.FREEZE).write_text("\n".join(frozen_lines) + "\n")
        version = log.run(
            [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            step="checking the interpreter",
            env=env,
        ).strip()
        console.info(
            f"  installed {count[0]} packages in {time.monotonic() - t0:.1f}s; log: {log.path}"
        )
        return {"python_version": version, "interpreter": str(interp.path)}


class UvManager(VirtualenvManager):
    """A virtualenv built and filled by uv."""

    name = "uv"
    installer = "uv"


def _health(env_dir: Path, marker: Mapping[str, Any]) -> str | None:
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
