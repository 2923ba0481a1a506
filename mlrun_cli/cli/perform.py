"""What `mlrun run` does once its arguments are parsed, by click or by `cli.fast`; and the
summaries `run` and `rerun` print. No click here: the fast path must not import it."""

from __future__ import annotations

from collections.abc import Sequence

from mlrun_cli import console

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

if TYPE_CHECKING:
    from mlrun_cli.run.flow import RunResult
    from mlrun_cli.run.request import RunRequest


def run_request(
    *,
    uri: str,
    entry_point: str,
    params: Sequence[str],
    experiment_name: str | None,
    experiment_id: str | None,
    run_name: str | None,
    env_manager: str | None,
    tracking_uri: str | None,
    as_json: bool,
    version: str | None,
    require_clean: bool,
    capture_metrics: bool,
    capture_pattern: str | None,
    no_mlflow_endpoint: bool,
) -> RunRequest:
    """The request for `mlrun run` with these options (-P values checked here)."""
    from mlrun_cli.project.params import parse_assignments
    from mlrun_cli.run.request import RunRequest

    return RunRequest(
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


def perform_run(
    req: RunRequest,
    *,
    as_json: bool,
    dry_run: bool = False,
    backend: str = "local",
    backend_config: str | None = None,
    detach: bool = False,
) -> int:
    """Run (or submit, or only plan) `req`; print its summary; the exit code."""
    from mlrun_cli.run.request import plan

    if backend != "local" or backend_config is not None or detach:
        if dry_run:
            from mlrun_cli.backends import configure

            configure(backend, backend_config)
            with plan(req) as p:
                console.out(p.command)
            return 0
        return submit(req, backend, backend_config, detach, as_json)
    p = plan(req)
    if dry_run:
        p.close()
        if as_json:
            console.json_out({"schema": "mlrun.plan/1", **p.as_dict()})
        else:
            console.out(p.command)
        return 0
    from mlrun_cli.run.flow import execute_run

    return print_result(execute_run(req, p), as_json)


def submit(
    req: RunRequest, backend: str, backend_config: str | None, detach: bool, as_json: bool
) -> int:
    """Submit `req` to a cluster backend; wait for it unless `detach`; its exit code."""
    from mlrun_cli.backends import configure
    from mlrun_cli.cluster.submit import submit_run

    summary = submit_run(req, configure(backend, backend_config), detach=detach)
    if detach:
        print_detached(summary, as_json)
        return 0
    if as_json:
        console.json_out(summary)
    else:
        reason = f", {summary['reason']}" if summary.get("reason") else ""
        console.info(
            f"run {summary['run_id']} {summary['status']} (exit code {summary['exit_code']}{reason})"
        )
    return int(summary["exit_code"])


def print_result(result: RunResult, as_json: bool) -> int:
    """Print a run's summary (shared by run and rerun); its exit code."""
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
    return result.exit_code


def print_detached(summary: dict[str, Any], as_json: bool) -> None:
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
