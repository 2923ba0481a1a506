"""Parameters: parse -P, check values by type, resolve paths, render the command.

The rendered command matches `mlflow run`: `{name}` placeholders are filled with the
shell-quoted `str(value)`, and undeclared parameters are appended as `--key value`.
"""

from __future__ import annotations

import os
import re
import shlex
import string
from collections.abc import Iterable, Mapping
from pathlib import Path

from mlrun_cli.errors import ParameterError
from mlrun_cli.project.mlproject import EntryPoint
from mlrun_cli.values import valueclass

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@valueclass
class ResolvedParams:
    """The values an entry point runs with (raw strings, not shell-quoted)."""

    declared: Mapping[str, str]
    extra: Mapping[str, str]

    @property
    def all(self) -> dict[str, str]:
        return {**self.declared, **self.extra}


def parse_assignments(items: Iterable[str], option: str = "-P") -> dict[str, str]:
    """Split each ``name=value`` on the first ``=``; a missing ``=`` or a repeated name is an error."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ParameterError(f"{option} {item!r}: expected NAME=VALUE, e.g. {option} alpha=0.5")
        if name in result:
            raise ParameterError(f"{option} {name}: given twice; pass each parameter once")
        result[name] = value
    return result


def is_uri(value: str) -> bool:
    """True for values with a scheme (``s3://b/k``, ``file:///x``); a Windows drive is not one."""
    return bool(_SCHEME.match(value)) and not re.match(r"^[A-Za-z]:[\\/]", value)


def check_type(ptype: str, name: str, value: str) -> None:
    """Check `value` for the types we can check (float, int, bool); any other type passes."""
    kind = ptype.strip().lower()
    try:
        if kind in ("float", "double", "number"):
            float(value)
        elif kind in ("int", "integer", "long"):
            int(value)
        elif kind in ("bool", "boolean"):
            if value.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(value)
        else:
            return
    except ValueError:
        raise ParameterError(
            f"parameter {name}: {value!r} is not a valid {ptype}; pass -P {name}=<{ptype}>"
        ) from None


def resolve(
    entry: EntryPoint,
    given: Mapping[str, str],
    *,
    project_dir: Path,
    cwd: Path | None = None,
) -> ResolvedParams:
    """Typed, defaulted, path-resolved values for `entry`.

    A value given on the command line resolves against `cwd` (the user's directory); a
    default of type path resolves against the project directory.
    """
    cwd = cwd or Path.cwd()
    missing = [p.name for p in entry.parameters.values() if p.required and p.name not in given]
    if missing:
        names = ", ".join(missing)
        raise ParameterError(
            f"entry point {entry.name!r}: missing required parameter"
            f"{'s' if len(missing) > 1 else ''} {names}; pass "
            + " ".join(f"-P {n}=..." for n in missing)
        )
    declared: dict[str, str] = {}
    for param in entry.parameters.values():
        from_user = param.name in given
        value = given[param.name] if from_user else str(param.default)
        kind = param.type.strip().lower()
        if kind == "path":
            value = _resolve_path(param.name, value, cwd if from_user else project_dir, from_user)
        elif kind == "uri":
            if not is_uri(value):
                raise ParameterError(
                    f"parameter {param.name}: {value!r} is not a URI (no scheme such as "
                    f"file://, s3://, https://); pass a full URI"
                )
        else:
            check_type(param.type, param.name, value)
        declared[param.name] = value
    extra = {k: v for k, v in given.items() if k not in entry.parameters}
    return ResolvedParams(declared, extra)


def _resolve_path(name: str, value: str, base: Path, from_user: bool) -> str:
    if is_uri(value):
        return value  # remote paths (s3://...) are the entry point's to fetch, as in MLflow
    path = Path(os.path.expanduser(value))
    if not path.is_absolute():
        path = base / path
    if not path.exists():
        origin = "given" if from_user else "default"
        raise ParameterError(
            f"parameter {name}: {origin} path {value!r} does not exist (looked for {path}); "
            "pass an existing file or directory"
        )
    return os.path.abspath(path)


def render_command(entry: EntryPoint, params: ResolvedParams) -> str:
    """The shell command for `entry` with `params`, exactly as `mlflow run` renders it."""
    template = entry.command
    names = {
        field_name.split(".")[0].split("[")[0]
        for _, field_name, _, _ in string.Formatter().parse(template)
        if field_name is not None
    }
    unknown = sorted(n for n in names if n not in params.declared)
    if unknown:
        declared = ", ".join(entry.parameters) or "none"
        raise ParameterError(
            f"entry point {entry.name!r}: command uses {{{unknown[0]}}}, which is not a declared "
            f"parameter (declared: {declared}); declare it under parameters or escape the braces "
            "as {{ }}"
        )
    try:
        command = template.format(**{k: shlex.quote(str(v)) for k, v in params.declared.items()})
    except (ValueError, IndexError, KeyError) as exc:
        raise ParameterError(
            f"entry point {entry.name!r}: command {template!r} is not a valid template ({exc}); "
            "escape literal braces as {{ }}"
        ) from None
    if params.extra:
        command = command.rstrip()
        command += "".join(
            f" --{shlex.quote(k)} {shlex.quote(str(v))}" for k, v in params.extra.items()
        )
    return command
