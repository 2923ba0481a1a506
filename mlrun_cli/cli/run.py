"""`mlrun run`: run an entry point of a project and record it, here or on a cluster."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from mlrun_cli.cli.options import (
    Command,
    backend_options,
    env_manager_option,
    json_option,
    tracking_option,
)


@click.command(cls=Command, context_settings={"show_default": True})
@click.argument("uri", default=".")
@click.option("-e", "--entry-point", default="main", help="Entry point name, or a .py/.sh file.")
@click.option("-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="A parameter.")
@click.option("--experiment-name", help="Experiment to record into (created if missing).")
@click.option("--experiment-id", help="Experiment id to record into.")
@click.option("--run-name", help="A name for the run.")
@env_manager_option(
    help="local (the current environment as it is), virtualenv (pip), uv, conda, or docker "
    "(a docker_env project's image); default: what the project declares."
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
@click.option(
    "--build-image",
    is_flag=True,
    help="docker_env: run a derived image with the project copied in (built once per content).",
)
@click.option(
    "-A",
    "--docker-args",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="docker_env: an extra docker run option, as mlflow -A (gpus=all is --gpus all).",
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
    build_image: bool,
    docker_args: Sequence[str],
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

    The child's exit code is mlrun's exit code. With a cluster backend (--backend slurm or
    ray) the run is submitted there and followed the same way (or left there with --detach).

    Examples:

    \b
      mlrun run examples/iris-classification -P C=0.5
      mlrun run https://host/org/repo.git#sub/dir --version v1.2 -e train
      mlrun run . --backend ray --backend-config ray.yaml --detach
    """
    from mlrun_cli.cli.perform import perform_run, run_request

    if experiment_name and experiment_id:
        raise click.UsageError("pass --experiment-name or --experiment-id, not both")
    from mlrun_cli.cli.config import configured_default

    backend = configured_default("backend", backend)
    req = run_request(
        uri=uri,
        entry_point=entry_point,
        params=params,
        experiment_name=experiment_name,
        experiment_id=experiment_id,
        run_name=run_name,
        env_manager=env_manager,
        tracking_uri=tracking_uri,
        as_json=as_json,
        version=version,
        require_clean=require_clean,
        capture_metrics=capture_metrics,
        capture_pattern=capture_pattern,
        no_mlflow_endpoint=no_mlflow_endpoint,
    )
    if build_image or docker_args:
        from mlrun_cli.values import replace

        req = replace(req, build_image=build_image, docker_args=tuple(docker_args))
    sys.exit(
        perform_run(
            req,
            as_json=as_json,
            dry_run=dry_run,
            backend=backend,
            backend_config=backend_config,
            detach=detach,
        )
    )
