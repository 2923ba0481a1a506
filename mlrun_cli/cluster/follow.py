"""Following submitted runs from the submitting machine: wait for them while streaming a log,
and cancel them (gently first: the node's mlrun forwards the signal to the command)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.backends import BackendError, ClusterBackend
from mlrun_cli.cluster.files import (
    JOB_FILE,
    OUTPUT_LOG,
    job_dir,
    mark_cancelled,
    read_json,
    shares_folder,
)
from mlrun_cli.cluster.reconcile import (
    Change,
    active_runs,
    backend_of,
    by_backend,
    job_id_of,
    sync,
)
from mlrun_cli.run.signals import Signals, grace_period
from mlrun_cli.store.base import RUNNING, SCHEDULED, Run, Store

# After a cancel, how long to wait for the scheduler to confirm before giving up waiting.
_GIVE_UP_S = 120


class Tail:
    """Copies what is appended to a log file to a stream."""

    def __init__(self, path: Path, sink: BinaryIO) -> None:
        self.path = path
        self.sink = sink
        self.offset = 0

    def pump(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        if data:
            self.offset += len(data)
            self.sink.write(data)
            self.sink.flush()


class JobLog:
    """Copies what a job has printed, as its scheduler keeps it, to a stream: for a job that
    shares no folder with us (Ray's job logs). The scheduler is asked at most every `every`
    seconds, and once more at the end (`final`)."""

    def __init__(
        self, backend: ClusterBackend, job_id: str, sink: BinaryIO, every: float = 1.0
    ) -> None:
        self.backend = backend
        self.job_id = job_id
        self.sink = sink
        self.every = every
        self.offset = 0
        self._next = 0.0
        self._warned: set[str] = set()

    def pump(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now < self._next:
            return
        self._next = now + self.every
        try:
            data = self.backend.job_output(self.job_id) or b""
        except BackendError as exc:
            if str(exc) not in self._warned:  # once per problem, not once per pump
                self._warned.add(str(exc))
                console.warn(f"the output of job {self.job_id} cannot be read: {exc}")
            return
        if len(data) > self.offset:
            self.sink.write(data[self.offset :])
            self.sink.flush()
            self.offset = len(data)


def run_log(store: Store, run: Run, sink: BinaryIO) -> Tail | JobLog:
    """Where a run's output is read from here: its run folder's log, or the scheduler's
    (a submitted job whose node shares no folder with us)."""
    job = read_json(job_dir(store, run.run_id) / JOB_FILE) or {}
    job_id = job_id_of(run)
    if shares_folder(job) or job_id is None:
        return Tail(store.artifact_dir(run.run_id) / OUTPUT_LOG, sink)
    return JobLog(backend_of(run, store), job_id, sink)


def cancel_runs(
    store: Store, backend: ClusterBackend, runs: Sequence[Run], *, gentle: bool
) -> None:
    """One cancel call for pending jobs and one for running ones (gently: INT to mlrun on the
    node, which forwards it), per backend the runs were submitted to."""
    mark_cancelled(store, [r.run_id for r in runs])
    for target, group in by_backend(store, runs, backend):
        if not target.shares_folder():
            # Its node records the end (KILLED) on the server; that it was us is said here.
            for run in group:
                store.log_batch(run.run_id, tags={T.JOB_REASON: "CANCELLED"})
        pending = [j for r in group if r.status == SCHEDULED and (j := job_id_of(r))]
        running = [j for r in group if r.status == RUNNING and (j := job_id_of(r))]
        if gentle and running and grace_period() > 0:
            target.cancel(pending)
            target.cancel(running, signal="INT")
        else:
            target.cancel(pending + running)


def wait(
    store: Store,
    backend: ClusterBackend,
    run_ids: Sequence[str],
    *,
    poll_interval: float,
    tail: Path | JobLog | None = None,
    sink: BinaryIO | None = None,
    on_change: Callable[[Change], None] | None = None,
) -> int | None:
    """Wait until every run in `run_ids` has ended, streaming `tail`; returns the signal that
    interrupted the wait (the runs were then cancelled), or None.

    The first signal cancels gently, a second one (or the grace period) for good.
    """
    follower = Tail(tail, sink or sys.stdout.buffer) if isinstance(tail, Path) else tail
    next_poll = 0.0
    cancelled_at: float | None = None
    hard = False
    warned: set[str] = set()
    with Signals() as caught:
        while True:
            if follower is not None:
                follower.pump()
            now = time.monotonic()
            if caught.received is not None and cancelled_at is None:
                cancelled_at = now
                cancel_runs(store, backend, active_runs(store, run_ids), gentle=True)
                next_poll = 0.0
            elif (
                cancelled_at is not None
                and not hard
                and (caught.count > 1 or now - cancelled_at > grace_period())
            ):
                hard = True
                cancel_runs(store, backend, active_runs(store, run_ids), gentle=False)
                next_poll = 0.0
            if now >= next_poll:
                next_poll = now + poll_interval
                for change in _sync_warned(store, run_ids, backend, warned):
                    if on_change is not None:
                        on_change(change)
                if not active_runs(store, run_ids):
                    if follower is not None:
                        follower.pump(final=True)
                    return caught.received
                if cancelled_at is not None and now - cancelled_at > grace_period() + _GIVE_UP_S:
                    console.warn(
                        "the scheduler has not confirmed the end of every job; see "
                        "'mlrun runs status' later"
                    )
                    return caught.received
            time.sleep(min(0.1, poll_interval))


def _sync_warned(
    store: Store, run_ids: Sequence[str], backend: ClusterBackend, warned: set[str]
) -> list[Change]:
    try:
        return sync(store, run_ids, backend)
    except BackendError as exc:
        if str(exc) not in warned:  # once per problem, not once per poll
            warned.add(str(exc))
            console.warn(f"{exc}; trying again every poll")
        return []
