"""`mlrun sweep ...`: a grid or random search as one resumable object; and the hidden `_trial`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from mlrun_cli import console, tags
from mlrun_cli.cli.options import (
    Group,
    backend_options,
    env_manager_option,
    json_option,
    read_tracking_option,
    tracking_option,
)
from mlrun_cli.cli.sweep_view import command_line, finish, observer

SUBCOMMANDS = ("start", "resume", "show", "list", "cancel")


class SweepGroup(Group):
    """`mlrun sweep URI ...` starts a sweep; `mlrun sweep resume|show|list|cancel` manage them."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in SUBCOMMANDS and args[0] not in ("-h", "--help"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=SweepGroup)
def sweep() -> None:
    """Run a grid or random search over an entry point's parameters, resumably.

    Start one with `mlrun sweep URI -P NAME=VALUES ...` (all its options: `mlrun sweep start
    --help`); the other commands manage sweeps.

    Examples:

    \b
      mlrun sweep URI -P C=[0.1,1,10] -P kernel=[linear,rbf] -j 2 --metric accuracy
      mlrun sweep resume SWEEP
      mlrun sweep show SWEEP --json
    """


def _jobs(value: str) -> int:
    import os

    if value == "auto":
        return os.cpu_count() or 1
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: a number or auto", param_hint="-j/--jobs") from None


@sweep.command("start")
@click.argument("uri")
@click.option(
    "-e",
    "--entry-point",
    default="main",
    show_default=True,
    help="Entry point name, or a .py/.sh file.",
)
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=EXPR",
    help="A parameter and its values: [a,b,c], range(0,10,2), uniform(0,1), loguniform(1e-4,1), or one value.",
)
@click.option(
    "--literal", multiple=True, metavar="NAME", help="Do not expand this parameter's value."
)
@click.option(
    "--file", "file", type=click.Path(path_type=Path), help="Trials, one per row (csv, yaml, json)."
)
@click.option("--spec", "spec_file", type=click.Path(path_type=Path), help="A sweep.yaml.")
@click.option("-n", "--trials", type=click.IntRange(1), help="How many trials (random and tpe).")
@click.option("--seed", type=int, help="Seed of the random draws (recorded).")
@click.option(
    "-j",
    "--jobs",
    default="1",
    help="Trials at once, a number or auto (default: MLRUN_JOBS, else the config's jobs, else 1).",
)
@click.option("--fail-fast", is_flag=True, help="Start no new trial after a failure.")
@click.option("--max-failures", type=click.IntRange(1), help="Start no new trial after K failures.")
@click.option("--metric", help="The metric that ranks trials.")
@click.option("--minimize", "goal", flag_value="minimize", help="Smaller is better.")
@click.option(
    "--maximize", "goal", flag_value="maximize", default=True, help="Larger is better (default)."
)
@click.option(
    "--method",
    type=click.Choice(["grid", "random", "tpe"]),
    help="Default: grid, or random with random terms.",
)
@click.option(
    "--skip-existing",
    is_flag=True,
    help="Link trials identical to a FINISHED run instead of running them.",
)
@click.option("--name", help="A name for the sweep.")
@env_manager_option(help="How trials get their environment (default: what the project declares).")
@click.option("--version", "version", metavar="REF", help="Git branch, tag or commit to sweep.")
@click.option("--experiment-name", help="Experiment to record into (created if missing).")
@click.option(
    "--dry-run", is_flag=True, help="Print every trial's parameters and command; record nothing."
)
@backend_options
@tracking_option
@json_option
def start(
    uri: str,
    entry_point: str,
    params: Sequence[str],
    literal: Sequence[str],
    file: Path | None,
    spec_file: Path | None,
    trials: int | None,
    seed: int | None,
    jobs: str,
    fail_fast: bool,
    max_failures: int | None,
    metric: str | None,
    goal: str,
    method: str | None,
    skip_existing: bool,
    name: str | None,
    env_manager: str | None,
    version: str | None,
    experiment_name: str | None,
    dry_run: bool,
    backend: str,
    backend_config: str | None,
    detach: bool,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Start a sweep of URI's entry point (`mlrun sweep URI ...` is the same command).

    Examples:

    \b
      mlrun sweep . -P C=[0.1,1,10] -P kernel=[linear,rbf] -j 2 --metric accuracy
      mlrun sweep . -P lr=loguniform(1e-4,1e-1) -n 20 --seed 7 --metric loss --minimize
      mlrun sweep . -P C=[0.1,1] --dry-run
    """
    from mlrun_cli.cli.config import configured_default
    from mlrun_cli.project.params import parse_assignments
    from mlrun_cli.sweeps.request import SweepRequest

    backend = configured_default("backend", backend)
    if fail_fast and max_failures:
        raise click.UsageError("pass --fail-fast or --max-failures, not both")
    req = SweepRequest(
        uri=uri,
        entry_point=entry_point,
        params=parse_assignments(params),
        literal=tuple(literal),
        file=file,
        spec_file=spec_file,
        trials=trials,
        seed=seed,
        jobs=_jobs(configured_default("jobs", jobs)),
        fail_fast=fail_fast,
        max_failures=max_failures,
        metric=metric,
        goal=goal,
        skip_existing=skip_existing,
        name=name,
        method=method,
        env_manager=env_manager,
        version=version,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        as_json=as_json,
        backend=backend,
        backend_config=backend_config,
        detach=detach,
        command=command_line(),
    )
    if dry_run:
        from mlrun_cli.cli.sweep_view import print_plan
        from mlrun_cli.sweeps.prepare import prepare
        from mlrun_cli.sweeps.request import apply_spec_file

        print_plan(prepare(apply_spec_file(req)), as_json)
        return
    from mlrun_cli.sweeps.start import start as start_sweep

    finish(start_sweep(req, observer(as_json)), as_json, tracking_uri)


@sweep.command("resume")
@click.argument("sweep_ref", metavar="SWEEP")
@click.option("--retry-failed", is_flag=True, help="Also run FAILED trials again.")
@click.option(
    "-j",
    "--jobs",
    default="1",
    help="Trials at once, a number or auto (default: MLRUN_JOBS, else the config's jobs, else 1).",
)
@click.option("--force", is_flag=True, help="Resume even though the sources or spec changed.")
@click.option(
    "--backend-config", metavar="FILE|JSON", help="Override the sweep's saved backend config."
)
@click.option("--detach", is_flag=True, help="Submit and exit (cluster backends).")
@tracking_option
@json_option
def resume(
    sweep_ref: str,
    retry_failed: bool,
    jobs: str,
    force: bool,
    backend_config: str | None,
    detach: bool,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Continue a sweep: lost trials are marked, unfinished ones run; FINISHED ones never again.

    Examples:

    \b
      mlrun sweep resume 9d1e
      mlrun sweep resume 9d1e --retry-failed -j 2
    """
    from mlrun_cli.cli.config import configured_default
    from mlrun_cli.sweeps.resume import resume as resume_sweep

    jobs = configured_default("jobs", jobs)
    finish(
        resume_sweep(
            tracking_uri,
            sweep_ref,
            retry_failed=retry_failed,
            jobs=_jobs(jobs),
            force=force,
            as_json=as_json,
            backend_config=backend_config,
            detach=detach,
            observer=observer(as_json),
        ),
        as_json,
        tracking_uri,
    )


@sweep.command("show")
@click.argument("sweep_ref", metavar="SWEEP")
@click.option(
    "--sort", "sort_metric", metavar="METRIC", help="Rank by this metric (default: the sweep's)."
)
@click.option(
    "--agg",
    type=click.Choice(["last", "min", "max"]),
    default="last",
    show_default=True,
    help="Which value of the metric ranks a trial: its last, smallest or largest.",
)
@click.option("--csv", "as_csv", is_flag=True, help="Comma-separated values for spreadsheets.")
@read_tracking_option
@json_option
def show(
    sweep_ref: str,
    sort_metric: str | None,
    agg: str,
    as_csv: bool,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Trials with the parameters that vary, the metric, status and duration; best first.

    Examples:

    \b
      mlrun sweep show 9d1e
      mlrun sweep show 9d1e --agg max --csv > trials.csv
    """
    from mlrun_cli.cli.sweep_view import show_csv, show_table
    from mlrun_cli.sweeps.access import open_sweep_store
    from mlrun_cli.sweeps.summary import find_sweep
    from mlrun_cli.sweeps.summary import show as show_sweep

    store = open_sweep_store(tracking_uri)
    summary = show_sweep(store, find_sweep(store, sweep_ref).run_id, sort_metric, agg)
    if as_json:
        console.json_out(summary)
    elif as_csv:
        console.out(show_csv(summary))
    else:
        console.table(None, *show_table(summary))


@sweep.command("list")
@read_tracking_option
@json_option
def list_(tracking_uri: str | None, as_json: bool) -> None:
    """Sweeps of the store, newest first.

    Examples:

    \b
      mlrun sweep list
      mlrun sweep list --json
    """
    from mlrun_cli.cli.sweep_view import list_table
    from mlrun_cli.sweeps.access import open_sweep_store
    from mlrun_cli.sweeps.summary import list_sweeps

    found = list_sweeps(open_sweep_store(tracking_uri))
    if as_json:
        console.json_out({"schema": "mlrun.sweeps/1", "sweeps": found})
        return
    if not found:
        console.info("no sweeps")
        return
    console.table(None, *list_table(found))


@sweep.command("cancel")
@click.argument("sweep_ref", metavar="SWEEP")
@tracking_option
@json_option
def cancel(sweep_ref: str, tracking_uri: str | None, as_json: bool) -> None:
    """Stop a sweep: running trials are ended (KILLED), unstarted ones KILLED.

    Examples:

    \b
      mlrun sweep cancel 9d1e
      mlrun cancel 9d1e
    """
    from mlrun_cli.sweeps.cancel import cancel as cancel_sweep

    result = cancel_sweep(tracking_uri, sweep_ref)
    if as_json:
        console.json_out(result)
    else:
        console.info(
            f"cancelled sweep {result['sweep'][:8]} ({result['signalled']} processes signalled)"
        )


@click.command("_trial", hidden=True)
@click.argument("run_id")
@tracking_option
def trial(run_id: str, tracking_uri: str | None) -> None:
    """Execute one claimed trial of a sweep (started by the sweep runner)."""
    from mlrun_cli.run.flow import execute_run
    from mlrun_cli.run.request import RunRequest, plan
    from mlrun_cli.sweeps.access import open_sweep_store
    from mlrun_cli.sweeps.prepare import trial_source
    from mlrun_cli.sweeps.summary import load_spec

    store = open_sweep_store(tracking_uri)
    run = store.get_run(run_id)
    spec = load_spec(store, run.tags[tags.PARENT_RUN])
    req = RunRequest(
        uri=trial_source(spec)[0],
        entry_point=spec["entry_point"],
        params=dict(run.params),
        experiment_id=run.experiment_id,
        env_manager=spec["env_manager"],
        tracking_uri=tracking_uri,
        version=trial_source(spec)[1],
        adopt_run_id=run.run_id,
        run_name=run.name,
    )
    result = execute_run(req, plan(req))
    sys.exit(result.exit_code)
