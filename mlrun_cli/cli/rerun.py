"""`mlrun rerun RUN_ID`: reproduce a recorded run."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from mlrun_cli import console
from mlrun_cli.cli.options import (
    Command,
    backend_options,
    env_manager_option,
    json_option,
    tracking_option,
)


@click.command(cls=Command)
@click.argument("run_id")
@click.option(
    "-P", "--param", "params", multiple=True, metavar="NAME=VALUE", help="Override a parameter."
)
@env_manager_option(help="Default: the manager the run used.")
@backend_options
@tracking_option
@json_option
def rerun(
    run_id: str,
    params: Sequence[str],
    env_manager: str | None,
    backend: str,
    backend_config: str | None,
    detach: bool,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Run RUN_ID again: same commit, same uncommitted changes, same parameters and packages.

    The new run is tagged mlrun.rerun_of with the id of the run it reproduces.

    Examples:

    \b
      mlrun rerun 3f2a9c1b
      mlrun rerun 3f2a9c1b -P C=2.0 --json
    """
    from mlrun_cli.cli.perform import print_result, submit
    from mlrun_cli.project.params import parse_assignments
    from mlrun_cli.run.flow import execute_run
    from mlrun_cli.run.request import plan
    from mlrun_cli.run.rerun import rebuild_reason, rerun_request, untracked_warning
    from mlrun_cli.store import open_store, resolve_tracking_uri

    store = open_store(resolve_tracking_uri(tracking_uri))
    req = rerun_request(
        store,
        run_id,
        overrides=parse_assignments(params),
        env_manager=env_manager,
        tracking_uri=tracking_uri,
        as_json=as_json,
    )
    warning = untracked_warning(store, store.get_run(run_id))
    if warning:
        console.warn(warning)
    if backend != "local" or backend_config is not None or detach:
        sys.exit(submit(req, backend, backend_config, detach, as_json))
    result = execute_run(req, plan(req))
    reason = rebuild_reason(
        store.get_run(run_id), result.env, result.env.manager, req.frozen_requirements is not None
    )
    if reason:
        console.info(f"environment rebuilt: {reason}")
    sys.exit(print_result(result, as_json))
