"""What an environment file asks for: python_env.yaml, or the pip side of a conda.yaml.

Requirement lines that name files (`-r`, `-c` and their long forms) are resolved against the
project directory, and every referenced file's content is collected, recursively, so the
cache key changes when any of them changes.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlrun_cli.errors import EnvError
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; a warm run loads the spec
if TYPE_CHECKING:
    from typing import Any

_FILE_OPTION = re.compile(r"^(-r|-c|--requirement|--constraint)(?:\s*=\s*|\s+)(.+)$")
_CONDA_PYTHON = re.compile(r"^python\s*(?:[=<>!~]=?|\s)\s*([0-9][0-9.]*)")


@valueclass
class PythonEnvSpec:
    """An interpreter version and pip requirement lines (file references made absolute)."""

    python: str | None
    build_dependencies: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # (absolute path, sha256 of content)
    conda_only: tuple[str, ...] = field(default=(), compare=False)


def load_python_env(path: Path, project_dir: Path) -> PythonEnvSpec:
    from mlrun_cli.project.validation import load_validated

    doc = load_validated("python_env", path, EnvError) or {}
    return _spec(
        doc.get("python"),
        doc.get("build_dependencies") or [],
        doc.get("dependencies") or [],
        project_dir,
        path,
    )


def load_conda_as_python_env(path: Path, project_dir: Path) -> PythonEnvSpec:
    """The python version and pip section of a conda.yaml; conda-only packages are listed."""
    from mlrun_cli.project.validation import read_yaml

    doc = read_yaml(path, EnvError, "") or {}
    if not isinstance(doc, dict):
        raise EnvError(f"{path}: expected a mapping with 'dependencies'; fix the conda file")
    python: str | None = None
    pip: list[str] = []
    build: list[str] = []
    conda_only: list[str] = []
    for dep in doc.get("dependencies") or []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            pip.extend(str(x) for x in dep["pip"])
        elif isinstance(dep, str):
            match = _CONDA_PYTHON.match(dep.strip())
            name = re.split(r"[=<>!~\s]", dep.strip(), maxsplit=1)[0]
            if match:
                python = match.group(1).rstrip(".")
            elif name == "python":
                continue
            elif name in ("pip", "setuptools", "wheel"):
                build.append(dep.replace("=", "==") if "==" not in dep and "=" in dep else dep)
            else:
                conda_only.append(dep)
        else:
            raise EnvError(f"{path}: dependencies: unexpected entry {dep!r}; fix the conda file")
    spec = _spec(python, build, pip, project_dir, path)
    return PythonEnvSpec(
        spec.python, spec.build_dependencies, spec.dependencies, spec.files, tuple(conda_only)
    )


def _spec(
    python: Any, build: list[Any], deps: list[Any], project_dir: Path, source: Path
) -> PythonEnvSpec:
    files: dict[str, str] = {}
    resolved = tuple(_resolve_line(str(d), project_dir, files, source) for d in deps)
    build_resolved = tuple(_resolve_line(str(d), project_dir, files, source) for d in build)
    return PythonEnvSpec(
        str(python) if python is not None else None,
        build_resolved,
        resolved,
        tuple(sorted(files.items())),
    )


def _resolve_line(line: str, base: Path, files: dict[str, str], source: Path) -> str:
    match = _FILE_OPTION.match(line.strip())
    if not match:
        return line.strip()
    option, target = match.group(1), match.group(2).strip()
    path = (base / target).resolve()
    _collect(path, files, source)
    return f"{option} {path}"


def _collect(path: Path, files: dict[str, str], source: Path) -> None:
    """Hash `path` and, recursively, the files it references."""
    from mlrun_cli.digest import sha256  # not hashlib: OpenSSL costs ~2.5 ms on a warm run

    key = str(path)
    if key in files:
        return
    try:
        data = path.read_bytes()
    except OSError:
        raise EnvError(f"{source}: references {path}, which cannot be read; fix the path") from None
    files[key] = sha256(data).hexdigest()
    for raw in data.decode("utf-8", "replace").splitlines():
        match = _FILE_OPTION.match(raw.split(" #")[0].strip())
        if match:
            _collect((path.parent / match.group(2).strip()).resolve(), files, source)


def requirement_lines(spec: PythonEnvSpec) -> list[str]:
    """The dependencies as lines of a requirements file (file references absolute)."""
    return list(spec.dependencies)
