"""Load YAML and validate it against the shipped JSON Schemas, in one call.

jsonschema costs ~50 ms to import and PyYAML ~10 ms, so a file that validated once is
remembered by the sha256 of (schema, file bytes) together with its parsed content: a warm
run reads a small JSON file and imports neither.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from mlrun_cli.digest import sha256
from mlrun_cli.errors import MlrunError
from mlrun_cli.paths import tool_path

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any


def schema_dir() -> Path:
    """Where the schemas are: inside the installed package, or the source tree's ``schemas/``."""
    here = Path(__file__).resolve().parent.parent  # the mlrun_cli package
    packaged = here / "schemas"
    if packaged.is_dir():
        return packaged
    return here.parent / "schemas"


@cache
def _schema_text(name: str) -> str:
    path = schema_dir() / f"{name}.schema.json"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:  # a broken install, not a user error
        raise RuntimeError(f"schema {name} is missing from the installation: {path}") from exc


def reset_caches() -> None:
    """Forget the schemas read so far (tests point the tool at other files)."""
    _schema_text.cache_clear()


def load_schema(name: str) -> dict[str, Any]:
    """The schema called `name` (``mlproject``, ``python_env``, ...) as the CLI uses it."""
    result: dict[str, Any] = json.loads(_schema_text(name))
    return result


def read_yaml(path: Path, error: type[MlrunError], what: str) -> Any:
    """Read and safe-load a YAML file; syntax errors become one-line `error`s with the line."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file; {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read it ({exc})") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{path}:{where}: YAML syntax error: {problem}; fix the YAML") from None


def load_validated(name: str, path: Path, error: type[MlrunError], what: str = "") -> Any:
    """Parse the YAML file `path` and validate it against schema `name`; return the document.

    Errors are `error`s naming the file, the key path and the line.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file; {what}".rstrip("; ")) from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None
    digest = sha256(_schema_text(name).encode() + b"\0" + raw).hexdigest()
    memo = tool_path("validated") / name / f"{digest[:40]}.json"
    try:
        return json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    doc = read_yaml(path, error, what)
    validate(name, doc, path, error)
    try:
        encoded = json.dumps(doc)
        if json.loads(encoded) == doc:  # only documents JSON keeps exactly (no dates, int keys)
            _write_atomic(memo, encoded)
    except (TypeError, ValueError, OSError):
        pass  # the memo is an optimisation; a read-only cache must not fail the run
    return doc


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def validate(name: str, doc: Any, path: Path, error: type[MlrunError]) -> None:
    """Validate `doc` (loaded from `path`) against schema `name`; raise `error` on the first problem.

    The message names the file, the key path, the YAML line, and the schema's complaint.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(name))
    best = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if best is not None:
        keys = list(best.absolute_path)
        where = ".".join(str(k) for k in keys) or "(top level)"
        line = _line_of(path, keys)
        at = f" (line {line})" if line else ""
        raise error(f"{path}: {where}{at}: {_describe(best)}")


def _describe(err: Any) -> str:
    if err.validator == "required":
        return f"{err.message}; add it"
    if err.validator == "oneOf" and err.context:
        sub = min(err.context, key=lambda e: len(list(e.absolute_path)))
        return f"{sub.message}"
    if err.validator == "additionalProperties":
        return f"{err.message}; remove or rename it"
    return str(err.message)


def _line_of(path: Path, keys: list[Any]) -> int | None:
    """The 1-based line of the node at `keys` in the YAML file, found by composing it again."""
    import yaml

    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line
