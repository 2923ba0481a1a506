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
from mlrun_cli.project.text import printable, quoted

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

MAX_BYTES = 1024 * 1024  # a YAML file; MLproject files are a few KB, a conda export tens of KB
MAX_MEMO = 1024 * 1024  # characters of a remembered document's JSON


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


def read_bytes(path: Path, error: type[MlrunError], what: str = "") -> bytes:
    """The bytes of `path`, refused (as `error`) beyond `MAX_BYTES` before reading them all."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such file; {what}".rstrip("; ")) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = getattr(exc, "strerror", None) or printable(str(exc))
        raise error(f"{path}: cannot read it ({reason})") from None
    if len(raw) > MAX_BYTES:
        raise error(
            f"{path}: {max(size, len(raw))} bytes is too large for a YAML file mlrun reads "
            f"(at most {MAX_BYTES // 1024} KiB); shorten it"
        )
    return raw


def read_yaml(path: Path, error: type[MlrunError], what: str) -> Any:
    """Read and safe-load a YAML file within the limits of `yamlfile`; every problem (no such
    file, not UTF-8, a syntax error, an alias bomb) is a one-line `error` with the line."""
    from mlrun_cli.project.yamlfile import decode, load_text

    return load_text(decode(read_bytes(path, error, what), path, error), path, error)


def load_validated(name: str, path: Path, error: type[MlrunError], what: str = "") -> Any:
    """Parse the YAML file `path` and validate it against schema `name`; return the document.

    Errors are `error`s naming the file, the key path and the line. A refused file is never
    remembered, and neither is a document whose JSON is larger than `MAX_MEMO`.
    """
    raw = read_bytes(path, error, what)
    digest = sha256(_schema_text(name).encode() + b"\0" + raw).hexdigest()
    memo = tool_path("validated") / name / f"{digest[:40]}.json"
    try:
        # A memo larger than any we write is not ours to trust (earlier versions remembered
        # the expansion of an alias bomb: hundreds of MB).
        if memo.stat().st_size <= MAX_MEMO:
            return json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    from mlrun_cli.project.yamlfile import decode, load_text

    doc = load_text(decode(raw, path, error), path, error)
    validate(name, doc, path, error)
    try:
        encoded = json.dumps(doc)
        # only documents JSON keeps exactly (no dates, int keys), and only small ones
        if len(encoded) <= MAX_MEMO and json.loads(encoded) == doc:
            _write_atomic(memo, encoded)
    except (TypeError, ValueError, OSError, RecursionError):
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
        where = ".".join(printable(str(k), 40) for k in keys) or "(top level)"
        line = _line_of(path, keys)
        at = f" (line {line})" if line else ""
        raise error(f"{path}: {where}{at}: {_describe(best)}")


def _describe(err: Any) -> str:
    if err.validator == "required":
        return f"{_message(err)}; add it"
    if err.validator == "oneOf" and err.context:
        sub = min(err.context, key=lambda e: len(list(e.absolute_path)))
        return _message(sub)
    if err.validator == "additionalProperties":
        return f"{_message(err)}; remove or rename it"
    return _message(err)


def _message(err: Any) -> str:
    """jsonschema's message with the value it quotes cut to an excerpt: a file of binary
    junk is one scalar, and the message would quote all of it."""
    message = str(err.message)
    try:
        whole = repr(err.instance)
    except RecursionError:
        whole = ""
    if whole and len(whole) > 60 and whole in message:
        message = message.replace(whole, quoted(err.instance))
    return printable(message, 200)


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
