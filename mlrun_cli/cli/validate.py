"""`mlrun validate`: check a project and show its entry points, parameters and environment."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Command, json_option

if TYPE_CHECKING:
    from mlrun_cli.project.mlproject import Project


@click.command(cls=Command)
@click.argument("uri", default=".")
@json_option
def validate(uri: str, as_json: bool) -> None:
    """Check a project and show its entry points, parameters and environment.

    Examples:

    \b
      mlrun validate examples/iris-classification
      mlrun validate https://host/org/repo.git#sub/dir --json
    """
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.sources.resolve import resolve_source

    with resolve_source(uri) as source:
        project = load_project(source.dir)
    warnings = _check_entry_points(project)
    env = project.env
    env_desc = {
        "kind": env.kind,
        "path": str(env.path) if env.path else None,
        "image": env.docker.image if env.docker else None,
        "implicit": env.implicit,
    }
    entry_points: dict[str, dict[str, Any]] = {
        name: {
            "command": ep.command,
            "parameters": {
                p.name: {"type": p.type, "default": p.default, "required": p.required}
                for p in ep.parameters.values()
            },
        }
        for name, ep in project.entry_points.items()
    }
    if as_json:
        console.json_out(
            {
                "valid": True,
                "name": project.name,
                "file": str(project.file) if project.file else None,
                "environment": env_desc,
                "entry_points": entry_points,
                "warnings": warnings,
            }
        )
        return
    where = project.file or project.dir
    console.out(f"{where}: valid")
    console.out(f"name: {project.name or '(none)'}")
    env_text: str = env.kind if env.kind != "none" else "none (runs in the current environment)"
    if env.path:
        env_text += f" {env.path.name}" + (" (found beside the MLproject)" if env.implicit else "")
    if env.docker:
        env_text += f" image {env.docker.image}"
    console.out(f"environment: {env_text}")
    if not entry_points:
        console.out("entry points: none declared (run .py or .sh files with -e)")
    rows = []
    for name, ep in entry_points.items():
        params = ep["parameters"]
        if not params:
            rows.append((name, "", "", "", ""))
        for i, (pname, spec) in enumerate(params.items()):
            default = "" if spec["required"] else str(spec["default"])
            rows.append(
                (
                    name if i == 0 else "",
                    pname,
                    spec["type"],
                    default,
                    "yes" if spec["required"] else "",
                )
            )
    if rows:
        console.table(None, ["entry point", "parameter", "type", "default", "required"], rows)


def _check_entry_points(project: Project) -> list[str]:
    """Refuse a command that no parameters could run (a stray brace, ``{x.attr}``); warn,
    one line each on stderr, about what `mlrun run` would refuse or pass on unchecked."""
    from mlrun_cli.project.params import bad_defaults, check_entry_point
    from mlrun_cli.project.text import printable, quoted

    where = project.file.name if project.file else str(project.dir)
    warnings: list[str] = []
    for name, ep in project.entry_points.items():
        ep_name = quoted(name)
        for placeholder in check_entry_point(ep):
            warnings.append(
                f"{where}: entry point {ep_name}: command uses {{{printable(placeholder, 40)}}}, "
                f"which is not a declared parameter; mlrun run -e {printable(name, 40)} will "
                "refuse it"
            )
        for p in bad_defaults(ep):
            warnings.append(
                f"{where}: entry point {ep_name}: parameter {printable(p.name, 40)}: default "
                f"{quoted(p.default)} is not a valid {printable(p.type, 40)}; it is passed to the "
                "command as it is (only values given with -P are checked)"
            )
    for text in warnings:
        console.warn(text)
    return warnings
