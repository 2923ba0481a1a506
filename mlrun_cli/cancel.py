"""Cancel a run or a whole sweep, wherever it executes: a local runner is sent SIGTERM (it
ends its command and records KILLED), a local sweep stops its trials, submitted jobs are
cancelled through their backend in one call."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

from mlrun_cli import tags as T
from mlrun_cli.errors import MlrunError, TrackingError
from mlrun_cli.store.base import RUNNING, SCHEDULED, Run, Store

ACTIVE = (SCHEDULED, RUNNING)

# How long to wait for a cancelled job's end to be confirmed, and for a local runner.
_CLUSTER_WAIT_S = 90
_LOCAL_WAIT_S = 60


def cancel_ref(store: Store, ref: str, *, wait_for_end: bool) -> dict[str, Any]:
    """Cancel the run or sweep `ref` names; the counts of its runs' statuses afterwards."""
    sweep = _find_sweep(store, ref)
    if sweep is not None:
        index = store.index()
        assert index is not None  # sweeps live in the embedded store
        kind, ref_id = "sweep", sweep.run_id
        ids = index.tagged(T.SWEEP_ID, sweep.run_id)
        if sweep.tags.get(T.SWEEP_BACKEND) in (None, "local"):
            from mlrun_cli.sweeps.cancel import cancel as cancel_local_sweep

            cancel_local_sweep(str(index.root), sweep.run_id)
            return _result(store, kind, ref_id, ids)
    else:
        try:
            ref_id = store.resolve_run_id(ref)
        except TrackingError:
            raise TrackingError(
                f"no run or sweep {ref!r} in {store.shown}; see 'mlrun runs list'"
            ) from None
        kind, ids = "run", [ref_id]
    if not _cancel_submitted(store, ids, wait_for_end) and kind == "run":
        _cancel_local_run(store, store.get_run(ref_id), wait_for_end)
    if sweep is not None and store.get_run(ref_id).status == RUNNING:
        from mlrun_cli.cluster.reconcile import active_runs

        index = store.index()
        if index is not None and not active_runs(store, ids):
            from mlrun_cli.sweeps.summary import finish_sweep

            finish_sweep(index, ref_id, signal.SIGTERM)
    return _result(store, kind, ref_id, ids)


def _find_sweep(store: Store, ref: str) -> Run | None:
    index = store.index()
    if index is None:
        return None
    from mlrun_cli.sweeps.summary import find_sweep

    with contextlib.suppress(MlrunError):
        return find_sweep(index, ref)
    return None


def _cancel_submitted(store: Store, ids: list[str], wait_for_end: bool) -> bool:
    """Cancel those of `ids` that are active cluster jobs; False if there were none."""
    from mlrun_cli.cluster.follow import cancel_runs
    from mlrun_cli.cluster.reconcile import active_runs, backend_of, sync

    runs = active_runs(store, ids)
    if not runs:
        return False
    backend = backend_of(runs[0])
    sync(store, ids, backend)
    cancel_runs(store, backend, active_runs(store, ids), gentle=False)
    deadline = time.monotonic() + _CLUSTER_WAIT_S
    while wait_for_end and active_runs(store, ids) and time.monotonic() < deadline:
        time.sleep(0.5)
        sync(store, ids, backend)
    return True


def _cancel_local_run(store: Store, run: Run, wait_for_end: bool) -> None:
    index = store.index()
    pid, host = index.run_owner(run.run_id) if index is not None else (None, None)
    if run.status == RUNNING and pid and host == os.uname().nodename:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # the runner ends its command and records KILLED
        deadline = time.monotonic() + _LOCAL_WAIT_S
        while wait_for_end and store.get_run(run.run_id).status == RUNNING:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
    elif run.status not in ACTIVE:
        raise TrackingError(f"run {run.run_id[:8]} has ended ({run.status}); nothing to cancel")


def _result(store: Store, kind: str, ref_id: str, ids: list[str]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for run in (store.get_run(i) for i in ids):
        counts[run.status] = counts.get(run.status, 0) + 1
    return {"schema": "mlrun.cancel/1", "kind": kind, "id": ref_id, "counts": counts}
