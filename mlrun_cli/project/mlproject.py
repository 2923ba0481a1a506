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
from mlrun_cli.project.text import printable, quoted
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
        names = sorted(self.entry_points)
        available = ", ".join(printable(n, 40) for n in names[:20]) or "none declared"
        if len(names) > 20:
            available += f" and {len(names) - 20} more"
        where = self.file.name if self.file else str(self.dir)
        raise ProjectError(
            f"{where}: unknown entry point {quoted(name)} (available: {available}); "
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
        return Project(root, None, None, _checked(_conventional_env(root)), {})
    doc = load_validated("mlproject", file, ProjectError)
    if doc is None:
        doc = {}
    env = _checked(_env_spec(doc, root, file))
    entry_points: dict[str, EntryPoint] = {}
    for key, spec in (doc.get("entry_points") or {}).items():
        name = _unique(str(key), entry_points, file, "entry point")
        parameters: dict[str, Parameter] = {}
        for pkey, pspec in (spec.get("parameters") or {}).items():
            pname = _unique(str(pkey), parameters, file, f"entry point {quoted(name)}: parameter")
            parameters[pname] = _parameter(pname, pspec)
            _check_type(file, name, parameters[pname])
        entry_points[name] = EntryPoint(name=name, command=spec["command"], parameters=parameters)
    title = doc.get("name")
    return Project(root, file, str(title) if title is not None else None, env, entry_points)


def _unique(name: str, taken: Mapping[str, object], file: Path, what: str) -> str:
    """`name`, unless a key that reads the same is declared already (YAML's ``1`` and ``"1"``
    are two keys, but one name on the command line)."""
    if name in taken:
        raise ProjectError(f"{file}: {what} {quoted(name)} is declared twice; keep one of them")
    return name


def _parameter(name: str, spec: str | dict[str, Any]) -> Parameter:
    if isinstance(spec, str):
        return Parameter(name, spec, None)
    return Parameter(name, str(spec.get("type") or "string"), spec.get("default"))


# The types MLflow and mlrun read (the others are passed on as strings, as MLflow does).
KNOWN_TYPES = ("string", "float", "int", "bool", "path", "uri")
TYPE_SYNONYMS = ("double", "number", "integer", "long", "boolean")


def _check_type(file: Path, entry: str, param: Parameter) -> None:
    """A type one letter or two from a known one (``flaot``) is a typo, never meant as the
    unchecked string MLflow would make of it: refused, with the type it surely means."""
    kind = param.type.strip().lower()
    if kind in KNOWN_TYPES or kind in TYPE_SYNONYMS:
        return
    import difflib

    close = difflib.get_close_matches(kind, [*KNOWN_TYPES, *TYPE_SYNONYMS], n=1, cutoff=0.75)
    if close:
        raise ProjectError(
            f"{file.name}: entry point {quoted(entry)}: parameter {printable(param.name, 40)}: "
            f"unknown type {quoted(param.type)}; did you mean {close[0]!r}? "
            f"(types: {', '.join(KNOWN_TYPES)})"
        )


def _env_spec(doc: dict[str, Any], root: Path, file: Path) -> EnvSpec:
    # A key set to null declares nothing, as MLflow reads it (`conda_env: ~` in the wild).
    declared = [k for k in ENV_KEYS if doc.get(k) is not None]
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
    try:
        env_path = (root / doc[kind]).absolute()
        found = env_path.is_file()
    except (OSError, ValueError) as exc:  # a NUL in the path, a name too long
        raise ProjectError(
            f"{file}: {kind}: {quoted(doc[kind])} is not a usable path "
            f"({printable(getattr(exc, 'strerror', None) or str(exc))}); fix the path"
        ) from None
    if not found:
        raise ProjectError(
            f"{file}: {kind}: {printable(doc[kind], 200)} does not exist in {root}; "
            "fix the path or add the file"
        )
    return EnvSpec(kind, env_path)


def _checked(env: EnvSpec) -> EnvSpec:
    """`env`, its python_env.yaml validated now, before a run is recorded: a malformed or
    hostile one is bad input (one line, exit 2), not a FAILED run. The result is remembered,
    so the environment step reads it again from the memo."""
    from mlrun_cli.project.validation import load_validated

    if env.kind == "python_env" and env.path is not None:
        load_validated("python_env", env.path, ProjectError)
    return env


def _conventional_env(root: Path) -> EnvSpec:
    for name, kind in (("python_env.yaml", "python_env"), ("conda.yaml", "conda_env")):
        if (root / name).is_file():
            return EnvSpec(kind, root / name, implicit=True)  # type: ignore[arg-type]
    return EnvSpec("none")
