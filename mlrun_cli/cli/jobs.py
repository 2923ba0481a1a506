"""Runs that execute elsewhere: `mlrun logs`, `mlrun cancel`, `mlrun runs status`,
`mlrun backend check`, and the hidden `mlrun _exec` a job runs on a node."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from mlrun_cli import console
from mlrun_cli.cli.app import json_option, tracking_option
from mlrun_cli.errors import MlrunError, TrackingError


def _store(tracking_uri: str | None) -> Any:
    from mlrun_cli.cluster.submit import cluster_store

    return cluster_store(tracking_uri)


def _resolve(store: Any, ref: str) -> str:
    """A run id from an id or a unique prefix (a server store needs the full id)."""
    resolve = getattr(store, "resolve_run_id", None)
    return str(resolve(ref)) if resolve is not None else store.get_run(ref).run_id


# -- _exec ---------------------------------------------------------------------------------


@click.command("_exec", hidden=True)
@click.option("--run", "run_id", help="The run to perform.")
@click.option("--run-dir", type=click.Path(path_type=Path), help="Its run folder.")
@click.option("--sweep", "sweep_id", help="The sweep whose trial --index is.")
@click.option("--index", type=int, help="The array task index.")
@click.option("--offset", type=int, default=0, help="Added to --index (chained arrays).")
@click.option("--tracking-uri", help="The sweep's store root (paths only).")
def exec_(
    run_id: str | None,
    run_dir: Path | None,
    sweep_id: str | None,
    index: int | None,
    offset: int,
    tracking_uri: str | None,
) -> None:
    """Perform a submitted run on this node, recording into its run folder."""
    from mlrun_cli.cluster.contract import node_exec, sweep_trial
    from mlrun_cli.store.sqlite.store import SqliteStore

    if run_id is not None and run_dir is not None:
        sys.exit(node_exec(run_dir, run_id))
    if sweep_id is None or index is None or tracking_uri is None:
        raise click.UsageError(
            "pass --run RUN --run-dir DIR, or --sweep S --index N --tracking-uri U"
        )
    store = SqliteStore(Path(tracking_uri))  # paths only: the database is never opened here
    run_id = sweep_trial(store, sweep_id, index + offset)
    sys.exit(node_exec(store.run_dir(run_id), run_id))


# -- runs status ---------------------------------------------------------------------------


def _age(ms: float | None) -> str:
    if ms is None:
        return ""
    s = max(0.0, time.time() - ms / 1000)
    return f"{s:.0f}s ago" if s < 120 else f"{s / 60:.0f}m ago"


def status_rows(store: Any, run_ids: list[str]) -> list[dict[str, Any]]:
    from mlrun_cli.cluster.contract import (
        HEARTBEAT_FILE,
        JOB_ID_TAG,
        NODE_TAG,
        REASON_TAG,
        RESTARTS_TAG,
        STATE_TAG,
        job_dir,
    )

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
                "exit_code": run.exit_code,
                "backend": run.tags.get("mlflow.project.backend", "local"),
                "job_id": run.tags.get(JOB_ID_TAG),
                "scheduler_state": run.tags.get(STATE_TAG),
                "reason": run.tags.get(REASON_TAG),
                "node": run.tags.get(NODE_TAG),
                "restarts": int(run.tags.get(RESTARTS_TAG, "0")),
                "heartbeat_ms": beat,
                "lost": run.tags.get("mlrun.lost") == "true",
                "index": run.tags.get("mlrun.sweep.index"),
            }
        )
    rows.sort(key=lambda r: int(r["index"]) if r["index"] is not None else 0)
    return rows


@click.command("status")
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--sweep", "sweep_ref", metavar="SWEEP", help="Every trial of this sweep.")
@tracking_option
@json_option
def runs_status(
    run_ref: str | None, sweep_ref: str | None, tracking_uri: str | None, as_json: bool
) -> None:
    """Where a run (or every trial of a sweep) is: status, job, node, restarts, heartbeat."""
    from mlrun_cli.cluster.contract import refresh

    if (run_ref is None) == (sweep_ref is None):
        raise click.UsageError("pass a RUN or --sweep SWEEP")
    store = _store(tracking_uri)
    if sweep_ref is not None:
        from mlrun_cli.sweeps.scheduler import _store as sweep_store
        from mlrun_cli.sweeps.scheduler import find_sweep

        store = sweep_store(tracking_uri)
        ids = store.tagged("mlrun.sweep.id", find_sweep(store, sweep_ref).run_id)
    else:
        ids = [_resolve(store, str(run_ref))]
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


@click.command("logs")
@click.argument("run_ref", metavar="RUN")
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends.")
@tracking_option
def logs(run_ref: str, follow: bool, tracking_uri: str | None) -> None:
    """Print a run's output log (local or submitted); --follow reattaches to a running one."""
    from mlrun_cli.cluster.contract import OUTPUT_LOG, _Tail, refresh
    from mlrun_cli.store.base import RUNNING, SCHEDULED

    store = _store(tracking_uri)
    run_id = _resolve(store, run_ref)
    log = store.artifact_dir(run_id) / OUTPUT_LOG
    tail = _Tail(log, sys.stdout.buffer)
    tail.pump()
    if not follow:
        if not log.exists():
            console.info(f"run {run_id[:8]} has no output yet")
        return
    from mlrun_cli.cluster.contract import Interrupt

    interval = 1.0
    next_sync = 0.0
    with Interrupt() as intr:
        while intr.signal is None:
            tail.pump()
            if time.monotonic() >= next_sync:
                next_sync = time.monotonic() + interval
                refresh(store, [run_id])  # a no-op unless the run is submitted and active
                if store.get_run(run_id).status not in (SCHEDULED, RUNNING):
                    tail.pump()
                    break
            time.sleep(0.1)
    run = store.get_run(run_id)
    console.info(f"run {run_id[:8]} {run.status}")


# -- cancel --------------------------------------------------------------------------------


@click.command("cancel")
@click.argument("ref", metavar="RUN|SWEEP")
@click.option("--no-wait", is_flag=True, help="Do not wait for the runs to end.")
@tracking_option
@json_option
def cancel(ref: str, no_wait: bool, tracking_uri: str | None, as_json: bool) -> None:
    """Cancel a run or a whole sweep, local or submitted (one scancel for all its jobs)."""
    result = cancel_ref(tracking_uri, ref, wait_for_end=not no_wait)
    if as_json:
        console.json_out(result)
    else:
        console.info(
            f"cancelled {result['kind']} {result['id'][:8]}: "
            + ", ".join(f"{n} {s}" for s, n in sorted(result["counts"].items()))
        )


def cancel_ref(tracking_uri: str | None, ref: str, *, wait_for_end: bool) -> dict[str, Any]:
    from mlrun_cli.backends import get_backend
    from mlrun_cli.cluster.contract import active_runs, cancel_runs, sync
    from mlrun_cli.store.base import RUNNING
    from mlrun_cli.store.sqlite.store import SqliteStore
    from mlrun_cli.sweeps.scheduler import cancel as cancel_local_sweep
    from mlrun_cli.sweeps.scheduler import find_sweep, finish_sweep

    store = _store(tracking_uri)
    sweep = None
    if isinstance(store, SqliteStore):
        with contextlib.suppress(MlrunError):
            sweep = find_sweep(store, ref)
    if sweep is not None:
        kind, ref_id = "sweep", sweep.run_id
        ids = store.tagged("mlrun.sweep.id", sweep.run_id)
        if sweep.tags.get("mlrun.sweep.backend") in (None, "local"):
            cancel_local_sweep(tracking_uri, sweep.run_id)
            return _cancel_result(store, kind, ref_id, ids)
    else:
        try:
            ref_id = _resolve(store, ref)
        except TrackingError:
            raise TrackingError(
                f"no run or sweep {ref!r} in {getattr(store, 'shown', store.uri)}; "
                "see 'mlrun runs list'"
            ) from None
        kind, ids = "run", [ref_id]
    runs = active_runs(store, ids)
    if runs:
        backend = get_backend("slurm")
        sync(store, ids, backend)
        runs = active_runs(store, ids)
        cancel_runs(store, backend, runs, gentle=False)
        deadline = time.monotonic() + 90
        while wait_for_end and active_runs(store, ids) and time.monotonic() < deadline:
            time.sleep(0.5)
            sync(store, ids, backend)
    elif kind == "run":
        run = store.get_run(ref_id)
        owner = getattr(store, "run_owner", None)
        pid, host = owner(ref_id) if owner is not None else (None, None)
        if run.status == RUNNING and pid and host == os.uname().nodename:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the runner ends its command and records KILLED
            deadline = time.monotonic() + 60
            while wait_for_end and store.get_run(ref_id).status == RUNNING:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        elif run.status not in ("SCHEDULED", "RUNNING"):
            raise TrackingError(f"run {ref_id[:8]} has ended ({run.status}); nothing to cancel")
    ended = sweep is not None and not active_runs(store, ids)
    if ended and store.get_run(ref_id).status == RUNNING:
        finish_sweep(store, ref_id, signal.SIGTERM)
    return _cancel_result(store, kind, ref_id, ids)


def _cancel_result(store: Any, kind: str, ref_id: str, ids: list[str]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for run in (store.get_run(i) for i in ids):
        counts[run.status] = counts.get(run.status, 0) + 1
    return {"schema": "mlrun.cancel/1", "kind": kind, "id": ref_id, "counts": counts}


# -- backend check -------------------------------------------------------------------------


@click.group("backend")
def backend() -> None:
    """Check that a cluster backend can run mlrun jobs."""


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
    """Submit a one-task probe of the shared-filesystem contract and report each check."""
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
