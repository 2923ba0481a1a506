"""Runs that execute elsewhere: `mlrun logs`, `mlrun cancel`, `mlrun runs status`,
`mlrun backend check`, and the hidden `mlrun _exec` a job runs on a node."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import click

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.cli.options import Command, Group, json_option, read_tracking_option, tracking_option
from mlrun_cli.cli.stores import open_cli_store
from mlrun_cli.store.base import Store

# -- _exec ---------------------------------------------------------------------------------


@click.command("_exec", hidden=True)
@click.option("--run", "run_id", help="The run to perform.")
@click.option("--run-dir", type=click.Path(path_type=Path), help="Its run folder.")
@click.option("--sweep", "sweep_id", help="The sweep whose trial --index is.")
@click.option("--index", type=int, help="The array task index.")
@click.option("--offset", type=int, default=0, help="Added to --index (chained arrays).")
@click.option("--tracking-uri", help="The sweep's store root (paths only).")
@click.option(
    "--job",
    "job_file",
    type=click.Path(path_type=Path),
    help="A job file that came with the job (no shared run folder).",
)
def exec_(
    run_id: str | None,
    run_dir: Path | None,
    sweep_id: str | None,
    index: int | None,
    offset: int,
    tracking_uri: str | None,
    job_file: Path | None,
) -> None:
    """Perform a submitted run on this node, recording into its run folder (or, with --job,
    into the MLflow server store the job file names)."""
    from mlrun_cli.cluster.files import sweep_trial
    from mlrun_cli.cluster.node import node_exec, node_exec_uploaded
    from mlrun_cli.store import open_store

    if job_file is not None:
        sys.exit(node_exec_uploaded(job_file))
    if run_id is not None and run_dir is not None:
        sys.exit(node_exec(run_dir, run_id))
    if sweep_id is None or index is None or tracking_uri is None:
        raise click.UsageError(
            "pass --run RUN --run-dir DIR, --job FILE, or --sweep S --index N --tracking-uri U"
        )
    store = open_store(tracking_uri)  # paths only: the database is never opened here
    run_id = sweep_trial(store, sweep_id, index + offset)
    sys.exit(node_exec(store.run_dir(run_id), run_id))


# -- runs status ---------------------------------------------------------------------------


def _age(ms: float | None) -> str:
    if ms is None:
        return ""
    s = max(0.0, time.time() - ms / 1000)
    return f"{s:.0f}s ago" if s < 120 else f"{s / 60:.0f}m ago"


def status_rows(store: Store, run_ids: list[str]) -> list[dict[str, Any]]:
    from mlrun_cli.cluster.files import HEARTBEAT_FILE, job_dir
    from mlrun_cli.cluster.reconcile import ACTIVE

    rows = []
    for run in (store.get_run(i) for i in run_ids):
        beat = None
        with contextlib.suppress(OSError, ValueError):
            beat = int((job_dir(store, run.run_id) / HEARTBEAT_FILE).read_text() or 0)
        rows.append(
            {
                "run_id": run.run_id,
                "name": run.name,
                "status": run.status,
                # A trial put back to run again still has its last attempt's exit code.
                "exit_code": None if run.status in ACTIVE else run.exit_code,
                "backend": run.tags.get(T.PROJECT_BACKEND, "local"),
                "job_id": T.job_tag(run.tags, T.JOB_ID),
                "scheduler_state": T.job_tag(run.tags, T.JOB_STATE),
                "reason": T.job_tag(run.tags, T.JOB_REASON),
                "node": T.job_tag(run.tags, T.JOB_NODE),
                "restarts": int(T.job_tag(run.tags, T.JOB_RESTARTS) or "0"),
                "heartbeat_ms": beat,
                "lost": run.tags.get(T.LOST) == "true",
                "index": run.tags.get(T.SWEEP_INDEX),
            }
        )
    rows.sort(key=lambda r: int(r["index"]) if r["index"] is not None else 0)
    return rows


@click.command("status", cls=Command)
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--sweep", "sweep_ref", metavar="SWEEP", help="Every trial of this sweep.")
@read_tracking_option
@json_option
def runs_status(
    run_ref: str | None, sweep_ref: str | None, tracking_uri: str | None, as_json: bool
) -> None:
    """Where a run (or every trial of a sweep) is: status, job, node, restarts, heartbeat.

    Examples:

    \b
      mlrun runs status 3f2a9c1b
      mlrun runs status --sweep 9d1e --json
    """
    from mlrun_cli.cluster.reconcile import refresh

    if (run_ref is None) == (sweep_ref is None):
        raise click.UsageError("pass a RUN or --sweep SWEEP")
    store: Store
    if sweep_ref is not None:
        from mlrun_cli.sweeps.access import open_sweep_store
        from mlrun_cli.sweeps.summary import find_sweep

        index = open_sweep_store(tracking_uri)  # synced: one poll for every submitted run
        ids = index.tagged(T.SWEEP_ID, find_sweep(index, sweep_ref).run_id)
        store = index
    else:
        store = open_cli_store(tracking_uri)
        ids = [store.resolve_run_id(str(run_ref))]
        refresh(store, ids)
    rows = status_rows(store, ids)
    if as_json:
        console.json_out({"schema": "mlrun.status/1", "runs": rows})
        return
    console.table(
        None,
        ["run", "status", "exit", "job", "state", "node", "restarts", "heartbeat", "reason"],
        [
            (
                r["run_id"][:8] + (f" #{r['index']}" if r["index"] is not None else ""),
                r["status"] + (" (lost)" if r["lost"] else ""),
                "" if r["exit_code"] is None else str(r["exit_code"]),
                r["job_id"] or r["backend"],
                r["scheduler_state"] or "",
                r["node"] or "",
                str(r["restarts"]) if r["restarts"] else "",
                _age(r["heartbeat_ms"]) if r["status"] == "RUNNING" else "",
                r["reason"] or "",
            )
            for r in rows
        ],
    )


# -- logs ----------------------------------------------------------------------------------


@click.command("logs", cls=Command)
@click.argument("run_ref", metavar="RUN")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends.")
@read_tracking_option
@json_option
def logs(run_ref: str, follow: bool, tracking_uri: str | None, as_json: bool) -> None:
    """Print a run's output log (local or submitted); --follow reattaches to a running one.

    With --json the log goes to stderr and one object (run id, status, exit code, log file)
    to stdout at the end.

    Examples:

    \b
      mlrun logs 3f2a9c1b
      mlrun logs 3f2a9c1b --follow
      mlrun logs 3f2a9c1b --follow --json | jq .status
    """
    from mlrun_cli.cluster.follow import run_log
    from mlrun_cli.cluster.reconcile import refresh
    from mlrun_cli.paths import OUTPUT_LOG
    from mlrun_cli.store.base import RUNNING, SCHEDULED

    store = open_cli_store(tracking_uri)
    run_id = store.resolve_run_id(run_ref)
    log = store.artifact_dir(run_id) / OUTPUT_LOG
    # The run folder's log, or the scheduler's own (a job that shares no folder with us).
    tail = run_log(
        store, store.get_run(run_id), sys.stderr.buffer if as_json else sys.stdout.buffer
    )
    tail.pump(final=True)
    if not follow:
        if tail.offset == 0 and not log.exists():
            console.info(f"run {run_id[:8]} has no output yet")
        if as_json:
            _logs_json(store, run_id, log)
        return
    from mlrun_cli.run.signals import Signals

    interval = 1.0
    next_sync = 0.0
    with Signals() as caught:
        while caught.received is None:
            tail.pump()
            if time.monotonic() >= next_sync:
                next_sync = time.monotonic() + interval
                refresh(store, [run_id])  # a no-op unless the run is submitted and active
                if store.get_run(run_id).status not in (SCHEDULED, RUNNING):
                    tail.pump(final=True)
                    break
            time.sleep(0.1)
    if as_json:
        _logs_json(store, run_id, log)
        return
    run = store.get_run(run_id)
    console.info(f"run {run_id[:8]} {run.status}")


def _logs_json(store: Store, run_id: str, log: Path) -> None:
    run = store.get_run(run_id)
    console.json_out(
        {
            "schema": "mlrun.logs/1",
            "run_id": run_id,
            "status": run.status,
            "exit_code": run.exit_code,
            "log": str(log) if log.exists() else None,
        }
    )


# -- cancel --------------------------------------------------------------------------------


@click.command("cancel", cls=Command)
@click.argument("ref", metavar="RUN|SWEEP")
@click.option("--no-wait", is_flag=True, help="Do not wait for the runs to end.")
@tracking_option
@json_option
def cancel(ref: str, no_wait: bool, tracking_uri: str | None, as_json: bool) -> None:
    """Cancel a run or a whole sweep, local or submitted (one scancel for all its jobs).

    Examples:

    \b
      mlrun cancel 3f2a9c1b
      mlrun cancel 9d1e --no-wait --json
    """
    from mlrun_cli.cancel import cancel_ref

    result = cancel_ref(open_cli_store(tracking_uri), ref, wait_for_end=not no_wait)
    if as_json:
        console.json_out(result)
    else:
        console.info(
            f"cancelled {result['kind']} {result['id'][:8]}: "
            + ", ".join(f"{n} {s}" for s, n in sorted(result["counts"].items()))
        )


# -- backend check -------------------------------------------------------------------------


@click.group("backend", cls=Group)
def backend() -> None:
    """Check that a cluster backend (slurm, ray) can run mlrun jobs.

    Examples:

    \b
      mlrun backend check slurm --backend-config slurm.yaml
      mlrun backend check ray --backend-config '{"address": "http://head:8265"}'
      mlrun backend check slurm --json
    """


@backend.command("check")
@click.argument("name")
@click.option("--backend-config", metavar="FILE|JSON", help="The backend's settings.")
@click.option("--timeout", type=float, default=300, show_default=True, help="Seconds to wait.")
@tracking_option
@json_option
def check(
    name: str,
    backend_config: str | None,
    timeout: float,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """Submit a one-task probe of the shared-filesystem contract and report each check.

    The first line says where the jobs go and in which mode the nodes see the stage dir,
    the env cache and the run folders.

    Examples:

    \b
      mlrun backend check slurm --backend-config slurm.yaml
      mlrun backend check slurm --backend-config '{"partition": "debug"}' --json
      mlrun backend check ray --backend-config ray.yaml
    """
    from mlrun_cli.cluster.probe import probe

    result = probe(name, backend_config, tracking_uri, timeout)
    if as_json:
        console.json_out(result)
    else:
        for c in result["checks"]:
            mark = "ok  " if c["ok"] else "FAIL"
            console.out(f"{mark} {c['name']}: {c['detail']}")
        console.info(
            f"backend {name}: {'ready' if result['ok'] else 'not ready'} "
            f"(job {result.get('job_id') or '-'}, node {result.get('node') or '-'})"
        )
    sys.exit(0 if result["ok"] else 1)
