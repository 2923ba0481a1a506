"""MLproject loading: find the file, parse, validate against the schema, build value objects.

Semantics follow MLflow Projects so that every MLproject `mlflow run` accepts runs here
unchanged: entry point `main` by default, `.py` / `.sh` files as implicit entry points,
`python_env.yaml` and then `conda.yaml` beside the file when no environment is declared.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from mlrun_cli.errors import ProjectError
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any, Literal

    EnvKind = Literal["python_env", "conda_env", "docker_env", "none"]

ENV_KEYS: tuple[EnvKind, ...] = ("python_env", "conda_env", "docker_env")
DEFAULT_ENTRY_POINT = "main"


@valueclass
class Parameter:
    name: str
    type: str = "string"
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None


@valueclass
class EntryPoint:
    name: str
    command: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    declared: bool = True


@valueclass
class DockerEnv:
    image: str
    volumes: tuple[str, ...] = ()
    environment: tuple[tuple[str, str | None], ...] = ()


@valueclass
class EnvSpec:
    """The environment a project declares. `path` is absolute for python_env and conda_env."""

    kind: EnvKind
    path: Path | None = None
    docker: DockerEnv | None = None
    implicit: bool = False  # found by convention beside the MLproject, not declared


@valueclass
class Project:
    dir: Path
    file: Path | None
    name: str | None
    env: EnvSpec
    entry_points: Mapping[str, EntryPoint]

    def entry_point(self, name: str) -> EntryPoint:
        """The declared entry point `name`, or a `.py` / `.sh` file in the project run as one."""
        if name in self.entry_points:
            return self.entry_points[name]
        ext = os.path.splitext(name)[1]
        script = self.dir / name
        if ext in (".py", ".sh") and script.is_file():
            interpreter = "python" if ext == ".py" else os.environ.get("SHELL") or "bash"
            return EntryPoint(name, f"{interpreter} {shlex.quote(name)}", {}, declared=False)
        available = ", ".join(sorted(self.entry_points)) or "none declared"
        where = self.file.name if self.file else str(self.dir)
        raise ProjectError(
            f"{where}: unknown entry point {name!r} (available: {available}); "
            "pass one with -e, or a .py or .sh file in the project"
        )


def find_project_file(directory: Path) -> Path | None:
    """The file in `directory` whose name lowercases to ``mlproject``, if any."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return None
    for name in names:
        if name.lower() == "mlproject" and (directory / name).is_file():
            return directory / name
    return None


def load_project(directory: Path | str) -> Project:
    """Load and validate the project in `directory` (one call: parse, schema, value objects)."""
    from mlrun_cli.project.validation import load_validated

    root = Path(directory).absolute()
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise ProjectError(f"project directory {root} {what}; pass the directory of an MLproject")
    file = find_project_file(root)
    if file is None:
        return Project(root, None, None, _conventional_env(root), {})
    doc = load_validated("mlproject", file, ProjectError)
    if doc is None:
        doc = {}
    env = _env_spec(doc, root, file)
    entry_points = {
        name: EntryPoint(
            name=str(name),
            command=spec["command"],
            parameters={
                str(p): _parameter(str(p), v) for p, v in (spec.get("parameters") or {}).items()
            },
        )
        for name, spec in (doc.get("entry_points") or {}).items()
    }
    name = doc.get("name")
    return Project(root, file, str(name) if name is not None else None, env, entry_points)


def _parameter(name: str, spec: str | dict[str, Any]) -> Parameter:
    if isinstance(spec, str):
        return Parameter(name, spec, None)
    return Parameter(name, str(spec.get("type") or "string"), spec.get("default"))


def _env_spec(doc: dict[str, Any], root: Path, file: Path) -> EnvSpec:
    declared = [k for k in ENV_KEYS if k in doc]
    if len(declared) > 1:
        raise ProjectError(
            f"{file}: declares {' and '.join(declared)}; a project has one environment, "
            "keep one of them"
        )
    if not declared:
        return _conventional_env(root)
    kind = declared[0]
    if kind == "docker_env":
        spec = doc["docker_env"]
        environment: list[tuple[str, str | None]] = []
        for item in spec.get("environment") or []:
            if isinstance(item, str):
                environment.append((item, None))
            else:
                environment.append((str(item[0]), str(item[1])))
        docker = DockerEnv(
            image=spec["image"],
            volumes=tuple(spec.get("volumes") or ()),
            environment=tuple(environment),
        )
        return EnvSpec("docker_env", None, docker)
    env_path = (root / doc[kind]).absolute()
    if not env_path.is_file():
        raise ProjectError(
            f"{file}: {kind}: {doc[kind]} does not exist in {root}; fix the path or add the file"
        )
    return EnvSpec(kind, env_path)


def _conventional_env(root: Path) -> EnvSpec:
    for name, kind in (("python_env.yaml", "python_env"), ("conda.yaml", "conda_env")):
        if (root / name).is_file():
            return EnvSpec(kind, root / name, implicit=True)  # type: ignore[arg-type]
    return EnvSpec("none")
