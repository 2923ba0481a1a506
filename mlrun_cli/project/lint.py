"""What `mlrun validate` says of a loaded project beyond loading it: the errors `mlrun run`
would refuse the project with (a command using a name no parameter declares), and warnings
about what MLflow accepts but is almost surely a mistake (``defualt: 0.1``, which makes the
parameter required; a type mlrun cannot check; a default not of its type)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from mlrun_cli.project.mlproject import KNOWN_TYPES, TYPE_SYNONYMS, EntryPoint, Project
from mlrun_cli.project.params import bad_defaults, check_entry_point
from mlrun_cli.project.text import printable, quoted

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

TOP_KEYS = ("name", "python_env", "conda_env", "docker_env", "entry_points")
ENTRY_KEYS = ("command", "parameters")
PARAMETER_KEYS = ("type", "default")


def _close(key: str, known: tuple[str, ...]) -> str | None:
    found = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
    return found[0] if found else None


def project_errors(project: Project) -> list[str]:
    """What `mlrun run` would refuse, one line each: commands using undeclared names."""
    where = project.file.name if project.file else str(project.dir)
    errors = []
    for name, ep in project.entry_points.items():
        for placeholder in check_entry_point(ep):
            errors.append(f"{where}: entry point {quoted(name)}: " + _undeclared(ep, placeholder))
    return errors


def _undeclared(ep: EntryPoint, placeholder: str) -> str:
    declared = list(ep.parameters)
    shown = ", ".join(printable(p, 40) for p in declared[:20]) or "none"
    close = _close(placeholder, tuple(declared))
    hint = f"did you mean {{{printable(close, 40)}}}? or " if close else ""
    return (
        f"command uses {{{printable(placeholder, 40)}}}, which is not a declared parameter "
        f"(declared: {shown}); {hint}declare it under parameters or escape the braces as {{{{ }}}}"
    )


def project_warnings(project: Project) -> list[str]:
    """What MLflow accepts and `mlrun run` runs, but is most likely a mistake; one line each."""
    where = project.file.name if project.file else str(project.dir)
    warnings = _key_warnings(project, where)
    for name, ep in project.entry_points.items():
        ep_name = quoted(name)
        for p in ep.parameters.values():
            kind = p.type.strip().lower()
            if kind not in KNOWN_TYPES and kind not in TYPE_SYNONYMS:
                warnings.append(
                    f"{where}: entry point {ep_name}: parameter {printable(p.name, 40)}: type "
                    f"{quoted(p.type)} is not one mlrun checks ({', '.join(KNOWN_TYPES)}); its "
                    "values are passed on as strings, as MLflow does"
                )
        for p in bad_defaults(ep):
            warnings.append(
                f"{where}: entry point {ep_name}: parameter {printable(p.name, 40)}: default "
                f"{quoted(p.default)} is not a valid {printable(p.type, 40)}; it is passed to the "
                "command as it is (only values given with -P are checked)"
            )
    return warnings


def _key_warnings(project: Project, where: str) -> list[str]:
    """Keys MLflow ignores: a misspelled ``default`` silently makes its parameter required."""
    if project.file is None:
        return []
    from mlrun_cli.errors import ProjectError
    from mlrun_cli.project.validation import load_validated

    doc: Any = load_validated("mlproject", project.file, ProjectError) or {}
    warnings = []
    for key in doc:
        close = _close(str(key), TOP_KEYS)
        if str(key) not in TOP_KEYS and close:
            warnings.append(
                f"{where}: unknown key {quoted(key)}; did you mean {close!r}? (MLflow ignores it)"
            )
    for name, spec in (doc.get("entry_points") or {}).items():
        at = f"{where}: entry point {quoted(name)}"
        warnings += _unknown(at, spec, ENTRY_KEYS, "")
        for pname, pspec in (spec.get("parameters") or {}).items():
            if isinstance(pspec, dict):
                required = "default" not in pspec
                then = f", so {printable(pname, 40)} has no default and is required"
                at_p = f"{at}: parameter {printable(pname, 40)}"
                warnings += _unknown(at_p, pspec, PARAMETER_KEYS, then if required else "")
    return warnings


def _unknown(at: str, spec: dict[str, Any], known: tuple[str, ...], then: str) -> list[str]:
    out = []
    for key in spec:
        if str(key) in known:
            continue
        close = _close(str(key), known)
        hint = f"; did you mean {close!r}?" if close else ""
        out.append(f"{at}: unknown key {quoted(key)} (MLflow ignores it{then}){hint}")
    return out


def scripts(directory: Path) -> list[str]:
    """The .py and .sh files at the top of `directory`: what `-e` runs without an MLproject."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [n for n in names if n.endswith((".py", ".sh")) and (directory / n).is_file()]
