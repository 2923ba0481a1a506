"""`mlrun envs ...`: list, prune and pre-build cached environments."""

from __future__ import annotations

import time
from pathlib import Path

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


def _bytecode(env: dict[str, object]) -> str:
    """The list's bytecode column: done, 12/340 (files compiled so far), or - (none yet)."""
    progress = env.get("bytecode_progress")
    if env.get("bytecode") == "complete":
        return "done"
    if isinstance(progress, list):
        return f"{progress[0]}/{progress[1]}"
    return "compiling" if env.get("bytecode") == "compiling" else "-"


@envs.command("list")
@json_option
def envs_list(as_json: bool) -> None:
    """Cached environments: key, manager, python, size, last used, state, bytecode.

    The state is ready, building (a build is running) or incomplete (a build did not
    finish; prune removes it). The bytecode column is done once the background compile has
    finished, the files compiled so far (12/340) while it runs, - before it has started.

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
        ["key", "manager", "python", "size", "last used", "state", "bytecode"],
        [
            (
                e["name"],
                e["manager"],
                e["python"] or "",
                _size(e["size"]),
                _ago(e["last_used"]),
                e["state"],
                _bytecode(e),
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
@click.option(
    "--dry-run", is_flag=True, help="List what would be removed (and the space freed); keep it."
)
@json_option
def envs_prune(older_than: float | None, everything: bool, dry_run: bool, as_json: bool) -> None:
    """Remove unused environments (incomplete ones always; never one being built).

    A background bytecode compile running in an environment is stopped before it is removed.

    Examples:

    \b
      mlrun envs prune --older-than 30
      mlrun envs prune --all --dry-run
      mlrun envs prune --all
    """
    from mlrun_cli.envs.cache import prune

    removed = prune(older_than, everything, dry_run=dry_run)
    if as_json:
        console.json_out({"schema": "mlrun.envs-pruned/1", "dry_run": dry_run, "removed": removed})
        return
    freed = _size(sum(e["size"] for e in removed))
    count = f"{len(removed)} environment{'s' if len(removed) != 1 else ''}"
    if not dry_run:
        console.info(f"removed {count}, freed {freed}")
        return
    for e in removed:
        console.out(
            f"{e['name']}  {_size(e['size'])}  {e['state']}  last used {_ago(e['last_used'])}"
        )
    console.info(f"would remove {count}, freeing {freed} (nothing was removed)")


@envs.command("build")
@click.argument("uri", default=".")
@click.option("--env-manager", help="virtualenv, uv or conda (default: what the project implies).")
@click.option(
    "--wait-bytecode",
    is_flag=True,
    help="Wait until the environment's bytecode is compiled (normally done in the background).",
)
@json_option
def envs_build(uri: str, env_manager: str | None, wait_bytecode: bool, as_json: bool) -> None:
    """Build (or check) the environment of the project at URI, for CI cache steps.

    With --wait-bytecode the command returns once every installed file is compiled, so an
    image or cache saved next holds the bytecode too.

    Examples:

    \b
      mlrun envs build examples/iris-classification
      mlrun envs build . --wait-bytecode
      mlrun envs build . --env-manager uv --json
    """
    from mlrun_cli.envs import default_manager, get_manager
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.sources.resolve import resolve_source

    with resolve_source(uri) as source:  # a checkout made for a git URL is removed after
        project = load_project(source.dir)
        name = env_manager or default_manager(project)
        env = get_manager(name).prepare(project)
        bytecode = _wait_bytecode(env.key, source.dir) if wait_bytecode else None
    result = {
        "schema": "mlrun.env/1",
        "manager": env.manager,
        "key": env.key,
        "python": env.python,
        "python_version": env.python_version,
        "reused": env.reused,
    }
    if bytecode is not None:
        result["bytecode"] = bytecode
    if as_json:
        console.json_out(result)
    else:
        state = "reused" if env.reused else "built"
        console.out(
            f"{env.key or env.manager} {state}" + (f" ({env.python})" if env.python else "")
        )


def _wait_bytecode(key: str | None, project_dir: Path) -> str:
    """Follow the env's background compile to its end; its final state (complete, ...)."""
    from mlrun_cli.envs import bytecode
    from mlrun_cli.envs.cache import build_log_path, read_marker
    from mlrun_cli.errors import EnvError
    from mlrun_cli.paths import tool_path

    env_dir = tool_path("envs") / key if key else None
    marker = read_marker(env_dir) if env_dir is not None else None
    if env_dir is None or marker is None or marker.get("bytecode") != bytecode.BACKGROUND:
        return bytecode.COMPLETE  # compiled at build, or not ours (local, conda): no wait
    t0 = time.monotonic()

    def show(done: int, total: int) -> None:
        console.progress(f"  compiling bytecode {done}/{total}")

    finished = bytecode.follow(
        env_dir, env_dir.name, build_log_path(env_dir.name), show, project_dir
    )
    console.progress_done()
    if not finished:
        raise EnvError(
            f"the bytecode of {env_dir.name} could not be compiled; see {build_log_path(env_dir.name)}"
        )
    files = bytecode.state(env_dir).get("files")
    what = f"{files} file{'s' if files != 1 else ''}" if files is not None else "all files"
    console.info(f"  bytecode complete ({what}, waited {time.monotonic() - t0:.1f}s)")
    return bytecode.COMPLETE
