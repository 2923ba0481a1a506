"""`mlrun validate`: check a project and show its entry points, parameters and environment."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Command, json_option

if TYPE_CHECKING:
    from mlrun_cli.project.mlproject import Project


SCHEMA = "mlrun.validate/1"


@click.command(cls=Command)
@click.argument("uri", default=".")
@json_option
def validate(uri: str, as_json: bool) -> None:
    """Check a project as `mlrun run` would, and show its entry points, parameters and
    environment.

    What run would refuse is an error (exit 2); what MLflow accepts but is most likely a
    mistake (a misspelled key, a default not of its type) is a warning, one line each.

    Examples:

    \b
      mlrun validate examples/iris-classification
      mlrun validate https://host/org/repo.git#sub/dir --json
    """
    from mlrun_cli.errors import MlrunError
    from mlrun_cli.project.lint import project_errors, project_warnings, scripts
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.sources.resolve import resolve_source

    try:
        with resolve_source(uri) as source:
            project = load_project(source.dir)
            errors, warnings = project_errors(project), project_warnings(project)
            found = scripts(project.dir) if project.file is None else []
    except MlrunError as exc:
        if not as_json:
            raise
        from mlrun_cli.redact import redact

        console.json_out(
            {"schema": SCHEMA, "valid": False, "errors": [redact(str(exc))], "warnings": []}
        )
        sys.exit(exc.exit_code)
    if project.file is None and not found:
        errors.append(
            f"{project.dir}: no MLproject file and no .py or .sh file; mlrun run has nothing "
            "to run here"
        )
    if as_json:
        console.json_out(_as_json(project, errors, warnings, found))
    else:
        for text in warnings:
            console.warn(text)
        for text in errors:
            console.error(text)
        if not errors:
            _show(project, found)
    if errors:
        sys.exit(2)


def _as_json(
    project: Project, errors: list[str], warnings: list[str], found: list[str]
) -> dict[str, Any]:
    env = project.env
    return {
        "schema": SCHEMA,
        "valid": not errors,
        "name": project.name,
        "file": str(project.file) if project.file else None,
        "environment": {
            "kind": env.kind,
            "path": str(env.path) if env.path else None,
            "image": env.docker.image if env.docker else None,
            "runs_in": "docker" if env.kind == "docker_env" else None,
            "implicit": env.implicit,
        },
        "entry_points": _entry_points(project),
        "scripts": found if project.file is None else None,
        "errors": errors,
        "warnings": warnings,
    }


def _entry_points(project: Project) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "command": ep.command,
            "parameters": {
                p.name: {"type": p.type, "default": p.default, "required": p.required}
                for p in ep.parameters.values()
            },
        }
        for name, ep in project.entry_points.items()
    }


def _environment_text(project: Project) -> str:
    env = project.env
    text: str = env.kind if env.kind != "none" else "none (runs in the current environment)"
    if env.path:
        text += f" {env.path.name}" + (" (found beside the MLproject)" if env.implicit else "")
    if env.docker:
        text += f" image {env.docker.image} (runs in docker; --env-manager local runs it here)"
    return text


def _show(project: Project, found: list[str]) -> None:
    if project.file is None:
        listed = ", ".join(found[:10]) + (f" and {len(found) - 10} more" if len(found) > 10 else "")
        console.out(f"{project.dir}: no MLproject file; mlrun run runs one of its scripts with -e")
        console.out(f"scripts: {listed}")
        console.out(f"environment: {_environment_text(project)}")
        console.out(f"without -e, mlrun run refuses it (no entry point main); e.g. -e {found[0]}")
        return
    console.out(f"{project.file}: valid")
    console.out(f"name: {project.name or '(none)'}")
    console.out(f"environment: {_environment_text(project)}")
    entry_points = _entry_points(project)
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
