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

from mlrun_cli.errors import ParameterError, ProjectError
from mlrun_cli.project.mlproject import EntryPoint, Parameter
from mlrun_cli.project.text import printable, quoted
from mlrun_cli.values import valueclass

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
MAX_COMMAND = 128 * 1024 - 1  # bytes of one argument to exec (Linux's MAX_ARG_STRLEN)


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


def is_valid(ptype: str, value: str) -> bool:
    """Whether `value` is a `ptype` for the types we can check (float, int, bool); any other
    type is valid."""
    kind = ptype.strip().lower()
    try:
        if kind in ("float", "double", "number"):
            float(value)
        elif kind in ("int", "integer", "long"):
            int(value)
        elif kind in ("bool", "boolean"):
            return value.strip().lower() in _TRUE | _FALSE
    except ValueError:
        return False
    return True


def check_type(ptype: str, name: str, value: str) -> None:
    """Check `value` for the types we can check (float, int, bool); any other type passes."""
    if not is_valid(ptype, value):
        raise ParameterError(
            f"parameter {printable(name)}: {quoted(value)} is not a valid {printable(ptype)}; "
            f"pass -P {printable(name)}=<{printable(ptype)}>"
        )


def bad_defaults(entry: EntryPoint) -> list[Parameter]:
    """The parameters of `entry` whose default is not of their type (``{type: int, default:
    1.0}``): passed to the command as they are, as MLflow does, since only values given
    with -P are checked. `mlrun validate` warns about them."""
    return [
        p
        for p in entry.parameters.values()
        if not p.required and not is_valid(p.type, str(p.default))
    ]


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
                    f"parameter {printable(param.name)}: {quoted(value)} is not a URI (no scheme such as "
                    f"file://, s3://, https://); pass a full URI"
                )
        elif from_user:  # a default is the project's, passed on as MLflow does
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
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long, a NUL: no such file either
        exists = False
    if not exists:
        origin = "given" if from_user else "default"
        raise ParameterError(
            f"parameter {printable(name)}: {origin} path {quoted(value)} does not exist "
            f"(looked for {printable(str(path), 200)}); pass an existing file or directory"
        )
    return os.path.abspath(path)


def placeholders(entry: EntryPoint) -> list[tuple[str, str | None]]:
    """The command of `entry` as (literal text, placeholder name or None) pieces, ``{{`` and
    ``}}`` unescaped; a `ProjectError` for a stray brace or a placeholder that is more than
    a plain ``{name}``.

    The command is never given to `str.format`: ``{x.__class__}``, ``{x[0]}``, ``{x!r}`` and
    ``{x:>500000000}`` are Python's, not MLflow's, and from a hostile file they read
    attributes or build a command of gigabytes.
    """
    pieces: list[tuple[str, str | None]] = []
    what = f"entry point {quoted(entry.name)}: command {quoted(entry.command)}"
    try:
        for literal, name, spec, conversion in string.Formatter().parse(entry.command):
            if name is not None and (
                spec or conversion or not name or name.isdecimal() or "." in name or "[" in name
            ):
                text = (
                    name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                )
                raise ProjectError(
                    f"{what}: {{{printable(text, 40)}}} is not a parameter placeholder (only "
                    "{name}, without attributes, indexes, conversions or format specs); write "
                    "{name}, or escape literal braces as {{ }}"
                )
            pieces.append((literal, name))
    except ValueError as exc:  # a stray brace
        raise ProjectError(f"{what}: {exc}; escape literal braces as {{{{ }}}}") from None
    return pieces


def render_command(entry: EntryPoint, params: ResolvedParams) -> str:
    """The shell command for `entry` with `params`, exactly as `mlflow run` renders it."""
    pieces = placeholders(entry)
    unknown = sorted({n for _, n in pieces if n is not None and n not in params.declared})
    if unknown:
        declared = ", ".join(printable(p, 40) for p in list(entry.parameters)[:20]) or "none"
        raise ParameterError(
            f"entry point {quoted(entry.name)}: command uses {{{printable(unknown[0], 40)}}}, "
            f"which is not a declared parameter (declared: {declared}); declare it under "
            "parameters or escape the braces as {{ }}"
        )
    command = _join(entry, pieces, {k: shlex.quote(str(v)) for k, v in params.declared.items()})
    if params.extra:
        command = _end_for_extras(command) + "".join(
            f" --{shlex.quote(k)} {shlex.quote(str(v))}" for k, v in params.extra.items()
        )
    _check_command(entry, command)
    return command


def check_entry_point(entry: EntryPoint) -> list[str]:
    """What `mlrun validate` can check without values: the placeholders, and the command
    filled with the defaults (a NUL, the length); the placeholders not declared."""
    pieces = placeholders(entry)
    defaults = {
        p.name: shlex.quote(str(p.default)) for p in entry.parameters.values() if not p.required
    }
    _check_command(entry, _join(entry, pieces, defaults))
    return sorted({n for _, n in pieces if n is not None and n not in entry.parameters})


def _join(
    entry: EntryPoint, pieces: list[tuple[str, str | None]], values: Mapping[str, str]
) -> str:
    """The pieces with `values` in the placeholders (none for a name without a value)."""
    parts: list[str] = []
    length = 0
    for literal, name in pieces:
        parts.append(literal if name is None else literal + values.get(name, ""))
        length += len(parts[-1])
        if length > MAX_COMMAND:  # stop before a repeated long value fills the memory
            raise _too_long(entry)
    return "".join(parts)


def _end_for_extras(command: str) -> str:
    """The command without its trailing whitespace, where undeclared parameters are appended.

    On purpose: MLflow appends them after a space, so a command ending in a newline would
    run them as a second command. A line continuation (a backslash ending the last line)
    goes too, or the appended `` --key`` would be one argument with an escaped space.
    """
    while True:
        stripped = command.rstrip()
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2 == 0 or not command[len(stripped) :].startswith("\n"):
            return stripped
        command = stripped[:-1]


def _check_command(entry: EntryPoint, command: str) -> None:
    """Refuse, before anything is recorded, a command `exec` would refuse after."""
    what = f"entry point {quoted(entry.name)}: the command"
    if "\0" in command:
        raise ProjectError(
            f"{what} contains a NUL character (from the MLproject or a default); remove it"
        )
    try:
        size = len(command.encode("utf-8", "surrogateescape"))  # as os.fsencode encodes it
    except UnicodeEncodeError as exc:
        raise ProjectError(
            f"{what} contains {quoted(exc.object[exc.start : exc.end])}, which is not a "
            "character (a lone surrogate); remove it"
        ) from None
    if size > MAX_COMMAND:
        raise _too_long(entry)


def _too_long(entry: EntryPoint) -> ProjectError:
    return ProjectError(
        f"entry point {quoted(entry.name)}: the command with its parameters is over "
        f"{MAX_COMMAND} bytes, more than one command line holds; shorten it, or pass large "
        "values in a file"
    )
