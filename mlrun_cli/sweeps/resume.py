"""Resume a sweep: mark its lost trials, put the unfinished ones back, run or submit them.

FINISHED trials never run again; FAILED ones do with --retry-failed. A sweep planned on other
sources than the ones found now is refused unless forced (the comparison is the spec hash).

Resumes of one sweep that run at the same time are one generation, and a trial runs at most
once per generation. The first resume (no other one is live) marks the lost trials and puts
every trial to run again back to SCHEDULED. A resume that finds a live generation joins it: it
claims SCHEDULED trials beside the others and puts back only trials that ended before the
generation began, never one that a resume of this generation has just run and seen fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlrun_cli import console, tags
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
    if tgt is None and detach:
        raise ParameterError(
            "--detach needs a sweep submitted to a cluster backend (--backend slurm or ray)"
        )
    again = (KILLED, FAILED) if retry_failed else (KILLED,)
    folder = store.run_dir(sweep.run_id)
    # A cluster resume is refused while trials are queued or running, so it never joins one.
    with _Generation(folder) if tgt is None else contextlib.nullcontext() as generation:
        # One resume of this sweep at a time decides what is lost and what runs again; the
        # trials then run outside this lock, beside those of the other resumes.
        with _deciding(folder):
            if tgt is not None:
                _refuse_active(store, sweep.run_id, tgt.name)
            _check_resumable(store, sweep, spec, retry_failed=retry_failed, force=force)
            if generation is None or generation.join():
                _mark_lost(store, sweep.run_id)
                _put_back(store, sweep.run_id, again, ended_before=None)
            else:
                console.info(
                    f"sweep {sweep.run_id[:8]} is being resumed by another process too; "
                    "this one runs its remaining trials beside it"
                )
                _put_back(store, sweep.run_id, again, ended_before=generation.started_ms)
            store.set_status(sweep.run_id, RUNNING)
        if tgt is not None:
            from mlrun_cli.sweeps.submit import submit_sweep

            return submit_sweep(
                store, sweep.run_id, spec, tgt, jobs=jobs or 1, detach=detach, as_json=as_json
            )
        return run_trials(
            store, sweep.run_id, spec, jobs=jobs or 1, as_json=as_json, observer=observer
        )


@contextlib.contextmanager
def _deciding(folder: Path) -> Iterator[None]:
    """Hold the sweep's resume lock: one resume at a time marks, puts back, starts or joins."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".resume.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class _Generation:
    """This resume's part in the sweep's live generation, and when that generation began.

    Every local resume holds a shared lock on the sweep's `.generation` file while it runs.
    The one that finds no lock held begins a generation and writes its start time there. The
    kernel drops a process's locks when it ends, however it ends (SIGKILL too), so a generation
    is live exactly as long as one of its resumes runs, and a reused pid never looks like one.
    `join` is called only under `_deciding`, so no two resumes look at the lock at once.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".generation"
        self.fd: int | None = None
        self.started_ms = 0

    def __enter__(self) -> _Generation:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None

    def join(self) -> bool:
        """Take part; True if this resume begins the generation (no other one is live)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH)  # held shared by the live resumes: granted at once
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            # Unreadable, it puts back nothing: running a trial too few times beats twice.
            self.started_ms = int(text) if text.isdigit() else 0
            return False
        self.started_ms = int(time.time() * 1000)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(self.started_ms).encode(), 0)
        # Shared from here on, so later resumes join. The conversion is not atomic (flock(2)),
        # which is fine: every other resume takes this lock only under `_deciding`.
        fcntl.flock(fd, fcntl.LOCK_SH)
        return True


def _put_back(
    store: RunIndex, sweep_id: str, statuses: Sequence[str], *, ended_before: int | None
) -> None:
    """The sweep's trials in `statuses` go back to SCHEDULED, to run again.

    With `ended_before`, only those that ended before then: a trial that ended since was run
    by a resume of the live generation, and stays as it ended.
    """
    for run in store.load_runs(store.tagged(tags.SWEEP_ID, sweep_id)):
        if run.status in statuses and (ended_before is None or (run.end_time or 0) < ended_before):
            store.requeue(run.run_id)


def _refuse_active(store: RunIndex, sweep_id: str, backend: str) -> None:
    """A cluster sweep is resumed only once none of its trials is queued or running."""
    from mlrun_cli.cluster.reconcile import sync

    sync(store, store.tagged(tags.SWEEP_ID, sweep_id))
    counts = trial_counts(store, sweep_id)
    if counts.get(SCHEDULED, 0) + counts.get(RUNNING, 0):
        raise ParameterError(
            f"sweep {sweep_id[:8]} still has trials queued or running on {backend}; "
            f"wait for them or 'mlrun cancel {sweep_id[:8]}' first"
        )


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
    """RUNNING trials of this host whose process is gone are recorded lost (the one rule of
    `run.lost`: KILLED, their events read in, ended at their last sign of life), unless
    their command still runs."""
    from mlrun_cli.run.lost import group_alive, record_lost, why_lost

    here = os.uname().nodename
    for rid in store.tagged(tags.SWEEP_ID, sweep_id):
        pid, host = store.run_owner(rid)
        run = store.get_run(rid)
        if run.status != RUNNING or host != here:
            continue
        reason = why_lost(pid, run.start_time)
        if reason and not group_alive(store.run_dir(rid), run.start_time):
            record_lost(store, rid, reason)
