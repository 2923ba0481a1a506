"""Resume a sweep: mark its lost trials, put the unfinished ones back, run or submit them.

FINISHED trials never run again; FAILED ones do with --retry-failed. A sweep planned on other
sources than the ones found now is refused unless forced (the comparison is the spec hash).
"""

from __future__ import annotations

import os
import time
from typing import Any

from mlrun_cli import tags
from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import FAILED, KILLED, RUNNING, SCHEDULED, Run, RunIndex
from mlrun_cli.sweeps.access import open_sweep_store
from mlrun_cli.sweeps.plan import describe_difference, spec_hash
from mlrun_cli.sweeps.prepare import current_spec
from mlrun_cli.sweeps.scheduler import TrialObserver, run_trials
from mlrun_cli.sweeps.summary import find_sweep, load_spec, trial_counts


def resume(
    tracking_uri: str | None,
    ref: str,
    *,
    retry_failed: bool,
    jobs: int | None,
    force: bool,
    as_json: bool,
    backend_config: str | None = None,
    detach: bool = False,
    observer: TrialObserver | None = None,
) -> dict[str, Any]:
    """Mark lost trials, then run the unfinished ones (FAILED too with retry_failed).

    A sweep submitted to a cluster is resumed there: only the missing indices are submitted.
    `observer` is told about the trials run here.
    """
    store = open_sweep_store(tracking_uri)
    sweep = find_sweep(store, ref)
    spec = load_spec(store, sweep.run_id)
    from mlrun_cli.sweeps.submit import sweep_target

    tgt = sweep_target(store, sweep.run_id, backend_config)
    if tgt is not None:
        from mlrun_cli.cluster.reconcile import sync

        sync(store, store.tagged(tags.SWEEP_ID, sweep.run_id))
        counts = trial_counts(store, sweep.run_id)
        if counts.get(SCHEDULED, 0) + counts.get(RUNNING, 0):
            raise ParameterError(
                f"sweep {sweep.run_id[:8]} still has trials queued or running on {tgt.name}; "
                f"wait for them or 'mlrun cancel {sweep.run_id[:8]}' first"
            )
    elif detach:
        raise ParameterError("--detach needs a sweep submitted with --backend slurm")
    _check_resumable(store, sweep, spec, retry_failed=retry_failed, force=force)
    _mark_lost(store, sweep.run_id)
    # Trials to run again go back to SCHEDULED once, here: a trial that fails again in this
    # resume is not picked up a second time.
    again = (KILLED, FAILED) if retry_failed else (KILLED,)
    for rid in store.tagged(tags.SWEEP_ID, sweep.run_id):
        if store.get_run(rid).status in again:
            store.set_status(rid, SCHEDULED)
    store.set_status(sweep.run_id, RUNNING)
    if tgt is not None:
        from mlrun_cli.sweeps.submit import submit_sweep

        return submit_sweep(
            store, sweep.run_id, spec, tgt, jobs=jobs or 1, detach=detach, as_json=as_json
        )
    return run_trials(store, sweep.run_id, spec, jobs=jobs or 1, as_json=as_json, observer=observer)


def _check_resumable(
    store: RunIndex, sweep: Run, spec: dict[str, Any], *, retry_failed: bool, force: bool
) -> None:
    """Refuse a finished sweep, and one whose sources changed unless `force`."""
    counts = trial_counts(store, sweep.run_id)
    todo = counts.get(SCHEDULED, 0) + counts.get(KILLED, 0) + counts.get(RUNNING, 0)
    if retry_failed:
        todo += counts.get(FAILED, 0)
    if todo == 0:
        raise ParameterError(
            f"sweep {sweep.run_id[:8]} is finished: nothing to resume (--retry-failed reruns FAILED trials)"
        )
    current = current_spec(spec)
    if spec_hash(current) != spec_hash(spec) and not force:
        raise ParameterError(
            f"sweep {sweep.run_id[:8]} was planned on other sources ({describe_difference(spec, current)}); "
            "resume with --force to run the rest on these"
        )


def _mark_lost(store: RunIndex, sweep_id: str) -> None:
    """RUNNING trials of this host whose process is gone are recorded KILLED and LOST."""
    from mlrun_cli.run.lost import why_lost

    here = os.uname().nodename
    for rid in store.tagged(tags.SWEEP_ID, sweep_id):
        pid, host = store.run_owner(rid)
        run = store.get_run(rid)
        if run.status == RUNNING and host == here and why_lost(pid, run.start_time):
            store.log_batch(
                rid,
                tags={tags.LOST: "true", tags.LOST_REASON: why_lost(pid, run.start_time) or ""},
            )
            store.set_terminated(rid, KILLED, int(time.time() * 1000), None)
