"""`mlrun envs ...`: list, prune and pre-build cached environments."""

from __future__ import annotations

import time

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Group, json_option


@click.group(cls=Group)
def envs() -> None:
    """Manage the environment cache.

    Examples:

    \b
      mlrun envs list
      mlrun envs build . --json
      mlrun envs prune --older-than 30
    """


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _ago(ts: int | None) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@envs.command("list")
@json_option
def envs_list(as_json: bool) -> None:
    """Cached environments: key, manager, python, size, last used.

    Examples:

    \b
      mlrun envs list
      mlrun envs list --json
    """
    from mlrun_cli.envs.cache import list_envs
    from mlrun_cli.paths import tool_path

    found = list_envs()
    if as_json:
        console.json_out({"schema": "mlrun.envs/1", "root": str(tool_path("envs")), "envs": found})
        return
    if not found:
        console.info(f"no environments in {tool_path('envs')}")
        return
    console.table(
        None,
        ["key", "manager", "python", "size", "last used", "state"],
        [
            (
                e["name"],
                e["manager"],
                e["python"] or "",
                _size(e["size"]),
                _ago(e["last_used"]),
                "ready" if e["complete"] else "incomplete",
            )
            for e in found
        ],
    )


@envs.command("prune")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Remove environments not used for DAYS days.",
)
@click.option("--all", "everything", is_flag=True, help="Remove every environment.")
@json_option
def envs_prune(older_than: float | None, everything: bool, as_json: bool) -> None:
    """Remove unused environments (incomplete ones always; never one being built).

    Examples:

    \b
      mlrun envs prune --older-than 30
      mlrun envs prune --all
    """
    from mlrun_cli.envs.cache import prune

    removed = prune(older_than, everything)
    if as_json:
        console.json_out({"schema": "mlrun.envs-pruned/1", "removed": removed})
        return
    freed = sum(e["size"] for e in removed)
    console.info(
        f"removed {len(removed)} environment{'s' if len(removed) != 1 else ''}, "
        f"freed {_size(freed)}"
    )


@envs.command("build")
@click.argument("uri", default=".")
@click.option("--env-manager", help="virtualenv, uv or conda (default: what the project implies).")
@json_option
def envs_build(uri: str, env_manager: str | None, as_json: bool) -> None:
    """Build (or check) the environment of the project at URI, for CI cache steps.

    Examples:

    \b
      mlrun envs build examples/iris-classification
      mlrun envs build . --env-manager uv --json
    """
    from mlrun_cli.envs import default_manager, get_manager
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.sources.resolve import resolve_source

    with resolve_source(uri) as source:  # a checkout made for a git URL is removed after
        project = load_project(source.dir)
        name = env_manager or default_manager(project)
        env = get_manager(name).prepare(project)
    result = {
        "schema": "mlrun.env/1",
        "manager": env.manager,
        "key": env.key,
        "python": env.python,
        "python_version": env.python_version,
        "reused": env.reused,
    }
    if as_json:
        console.json_out(result)
    else:
        state = "reused" if env.reused else "built"
        console.out(
            f"{env.key or env.manager} {state}" + (f" ({env.python})" if env.python else "")
        )
