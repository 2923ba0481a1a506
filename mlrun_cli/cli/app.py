"""The command line: parse arguments, call the core, render results, choose exit codes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from mlrun_cli import __version__, console
from mlrun_cli.errors import MlrunError

F = TypeVar("F", bound=Callable[..., Any])


# Subcommands that live in their own modules, imported only when invoked (or listed in
# --help), so `mlrun run` does not pay for them: name -> "module:attribute".
LAZY_COMMANDS: dict[str, str] = {
    "runs": "mlrun_cli.cli.runs:runs",
    "envs": "mlrun_cli.cli.envs:envs",
    "rerun": "mlrun_cli.cli.rerun:rerun",
    "experiments": "mlrun_cli.cli.experiments:experiments",
    "sweep": "mlrun_cli.cli.sweep:sweep",
    "_trial": "mlrun_cli.cli.sweep:trial",
    "_exec": "mlrun_cli.cli.jobs:exec_",
    "logs": "mlrun_cli.cli.jobs:logs",
    "cancel": "mlrun_cli.cli.jobs:cancel",
    "backend": "mlrun_cli.cli.jobs:backend",
}


class MlrunGroup(click.Group):
    """Maps errors to exit codes in one place: user errors 2, unexpected errors 3.

    Also loads the subcommands named in LAZY_COMMANDS on first use.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Click's own usage errors are printed as one line too, like ours.
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
            console.error(exc.format_message().rstrip(".") + hint)
            sys.exit(2)
        except click.ClickException as exc:
            console.error(exc.format_message())
            sys.exit(exc.exit_code)
        except click.Abort:
            console.error("aborted")
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlrunError as exc:
            for line in str(exc).splitlines()[:1]:
                console.error(line)
            rest = str(exc).splitlines()[1:]
            if rest:
                sys.stderr.write("\n".join(rest) + "\n")
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            console.error("interrupted")
            ctx.exit(130)
        except Exception:
            path = _crash_log()
            console.error(f"unexpected error; the traceback is in {path}; please report it")
            ctx.exit(3)


def _crash_log() -> str:
    import traceback

    from mlrun_cli.paths import tool_path

    text = traceback.format_exc()
    try:
        logs = tool_path("logs")
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
        path.write_text(f"mlrun {__version__}\nargv: {sys.argv}\n\n{text}")
        return str(path)
    except OSError:
        sys.stderr.write(text)
        return "(could not write a log; printed above)"


@click.group(cls=MlrunGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlrun")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and results.")
@click.option("-v", "--verbose", is_flag=True, help="Say more (environment reuse, commands).")
def cli(quiet: bool, verbose: bool) -> None:
    """Run MLproject projects fast and record every run exactly."""
    console.configure(quiet=quiet, verbose=verbose)


def tracking_option(f: F) -> F:
    return click.option(
        "--tracking-uri",
        envvar=None,
        help="Store to record into (default: MLRUN_TRACKING_URI, else ./.mlrun).",
    )(f)


def backend_options(f: F) -> F:
    f = click.option(
        "--detach", is_flag=True, help="Submit, print the run and job ids, and exit (clusters)."
    )(f)
    f = click.option(
        "--backend-config",
        metavar="FILE|JSON",
        help="The backend's settings: a slurm.yaml/JSON file or a JSON object.",
    )(f)
    return click.option(
        "--backend",
        default="local",
        show_default=True,
        metavar="NAME",
        help="Where the command runs: local or slurm.",
    )(f)


def _detached(summary: dict[str, Any], as_json: bool) -> None:
    """What --detach prints: the run (or sweep) and job ids, and how to follow them."""
    if as_json:
        console.json_out(summary)
        return
    if "sweep_id" in summary:
        ref = summary["sweep_id"]
        console.out(
            f"sweep {ref} submitted: {summary['trials']} trials as job(s) "
            f"{', '.join(summary['job_ids'])}"
        )
        console.info(f"follow it with 'mlrun runs status --sweep {ref[:8]}'")
    else:
        ref = summary["run_id"]
        console.out(f"run {ref} submitted as {summary['backend']} job {summary['job_id']}")
        console.info(f"follow it with 'mlrun logs {ref[:8]} --follow'")


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


# -- run -------------------------------------------------------------------------------------


@cli.command(context_settings={"show_default": True})
@click.argument("uri", default=".")
@click.option("-e", "--entry-point", default="main", help="Entry point name, or a .py/.sh file.")
@click.option("-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter.")
@click.option("--experiment-name", help="Experiment to record into (created if missing).")
@click.option("--experiment-id", help="Experiment id to record into.")
@click.option("--run-name", help="A name for the run.")
@click.option(
    "--env-manager",
    type=click.Choice(["local", "virtualenv", "uv", "conda"]),
    help="local (the current environment as it is), virtualenv (pip), uv, or conda; "
    "default: what the project declares.",
)
@click.option("--version", "version", metavar="REF", help="Git branch, tag or commit to run.")
@click.option(
    "--require-clean", is_flag=True, help="Refuse to run from a tree with uncommitted changes."
)
@click.option(
    "--capture-metrics",
    is_flag=True,
    help="Record 'key: value' / 'key=value' output lines as metrics.",
)
@click.option(
    "--capture-pattern",
    metavar="REGEX",
    help="Regex with named groups key and value (implies --capture-metrics).",
)
@click.option(
    "--no-mlflow-endpoint",
    is_flag=True,
    help="Do not serve the loopback MLflow endpoint; leave MLFLOW_* as they are.",
)
@backend_options
@tracking_option
@click.option("--dry-run", is_flag=True, help="Print the command; run and record nothing.")
@json_option
def run(
    uri: str,
    entry_point: str,
    params: Sequence[str],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    version: str | None,
    require_clean: bool,
    capture_metrics: bool,
    capture_pattern: str | None,
    no_mlflow_endpoint: bool,
    backend: str,
    backend_config: str | None,
    detach: bool,
    tracking_uri: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run an entry point of the project at URI and record it.

    URI is a directory or a git URL (https://, ssh://, file://, user@host:path), optionally
    with #sub/dir.

    The child's exit code is mlrun's exit code. With --backend slurm the run is submitted
    to the cluster and followed the same way (or left there with --detach).
    """
    from mlrun_cli.project.params import parse_assignments
    from mlrun_cli.run.flow import RunRequest, execute_run, plan

    if experiment_name and experiment_id:
        raise click.UsageError("pass --experiment-name or --experiment-id, not both")
    req = RunRequest(
        uri=uri,
        entry_point=entry_point,
        params=parse_assignments(params),
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=env_manager,
        tracking_uri=tracking_uri,
        json=as_json,
        version=version,
        require_clean=require_clean,
        capture_metrics=capture_metrics,
        capture_pattern=capture_pattern,
        mlflow_endpoint=not no_mlflow_endpoint,
    )
    if backend != "local" or backend_config is not None or detach:
        if dry_run:
            from mlrun_cli.cluster.submit import target

            target(backend, backend_config)
            console.out(plan(req).command)
            return
        submit_and_finish(req, backend, backend_config, detach, as_json)
    p = plan(req)
    if dry_run:
        p.source.cleanup()
        if as_json:
            console.json_out(p.as_dict())
        else:
            console.out(p.command)
        return
    result = execute_run(req, p)
    _finish(result, as_json)


def submit_and_finish(
    req: Any, backend: str, backend_config: str | None, detach: bool, as_json: bool
) -> None:
    """Submit `req` to a cluster backend; wait for it unless `detach`; exit with its code."""
    from mlrun_cli.cluster.submit import submit_run, target

    summary = submit_run(req, target(backend, backend_config), detach=detach)
    if detach:
        _detached(summary, as_json)
        sys.exit(0)
    if as_json:
        console.json_out(summary)
    else:
        reason = f", {summary['reason']}" if summary.get("reason") else ""
        console.info(
            f"run {summary['run_id']} {summary['status']} (exit code {summary['exit_code']}{reason})"
        )
    sys.exit(summary["exit_code"])


def _finish(result: Any, as_json: bool) -> None:
    """Print a run's summary and exit with its exit code (shared by run and rerun)."""
    if as_json:
        console.json_out(
            {
                "schema": "mlrun.run/1",
                "run_id": result.run_id,
                "experiment_id": result.experiment_id,
                "status": result.status,
                "exit_code": result.exit_code,
                "params": dict(result.params),
                "metrics": dict(result.metrics),
                "command": result.command,
                "env_manager": result.env.manager,
                "env_key": result.env.key,
                "tracking_uri": result.tracking_uri,
                "timings": dict(result.timings),
            }
        )
    else:
        console.info(f"run {result.run_id} {result.status} (exit code {result.exit_code})")
    sys.exit(result.exit_code)


# -- validate --------------------------------------------------------------------------------


@cli.command()
@click.argument("uri", default=".")
@json_option
def validate(uri: str, as_json: bool) -> None:
    """Check a project and show its entry points, parameters and environment."""
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.sources.resolve import resolve_source

    project = load_project(resolve_source(uri).dir)
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


def main() -> None:
    cli(prog_name="mlrun")
