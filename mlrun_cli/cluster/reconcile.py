"""On the submitting machine: bring submitted runs up to date from their run folders, with one
batched scheduler poll for the state of all of them.

The run folder is the source of truth; the scheduler's state only fills in what the folder
cannot say (still pending, requeued, ended by the scheduler, gone). States are read in the
common words of `JobStatus`; the scheduler's own word is kept in the run's tags.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.backends import (
    LEGACY_CLUSTER,
    BackendError,
    ClusterBackend,
    JobState,
    JobStatus,
    cluster_backend,
)
from mlrun_cli.cluster.files import (
    CANCELLED_FILE,
    EVENTS_FILE,
    EXIT_FILE,
    INGESTED_FILE,
    JOB_FILE,
    STARTED_FILE,
    job_dir,
    read_json,
    shares_folder,
    write_json,
)
from mlrun_cli.run.lost import LOST_STATUS, lost_tags
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, RUNNING, SCHEDULED, Run, RunIndex, Store
from mlrun_cli.values import valueclass

ACTIVE = (SCHEDULED, RUNNING)
# Schedulers keep a job's submit time to the second, on the controller's clock.
_CLOCK_SLACK_S = 120

Final = tuple[str, int | None, int, dict[str, str]]  # status, exit code, end time, tags


@valueclass
class Change:
    """What a sync did to one run."""

    run_id: str
    before: str
    after: str


def job_id_of(run: Run) -> str | None:
    return T.job_tag(run.tags, T.JOB_ID)


def _submitted_ids(index: RunIndex, run_ids: Sequence[str] | None) -> list[str]:
    ids = index.active_with_tag(T.JOB_ID, run_ids)
    legacy = index.active_with_tag(T.LEGACY_OF[T.JOB_ID], run_ids)
    return ids + [i for i in legacy if i not in set(ids)]


def active_runs(store: Store, run_ids: Sequence[str] | None = None) -> list[Run]:
    """Submitted runs that have not ended (SCHEDULED or RUNNING with a job id).

    A server store is asked about `run_ids` only (it has no index of our jobs), and only
    those submitted from here count: their job file says which cluster the job went to (a
    poll of another cluster would find the job gone and record it LOST).
    """
    index = store.index()
    if index is None:
        runs = [store.get_run(i) for i in run_ids or []]
        return [
            r
            for r in runs
            if r.status in ACTIVE
            and job_id_of(r) is not None
            and (job_dir(store, r.run_id) / JOB_FILE).exists()
        ]
    ids = _submitted_ids(index, run_ids)
    return index.load_runs(ids) if ids else []


def any_active(store: Store) -> bool:
    """True if the embedded store holds a submitted run that has not ended (cheap)."""
    index = store.index()
    return index is not None and (
        index.any_active_with_tag(T.JOB_ID) or index.any_active_with_tag(T.LEGACY_OF[T.JOB_ID])
    )


def recorded_config(store: Store, run: Run) -> dict[str, Any] | None:
    """The backend config a run was submitted with (its job.json), None if not recorded."""
    config = (read_json(job_dir(store, run.run_id) / JOB_FILE) or {}).get("backend_config")
    return config if isinstance(config, dict) else None


def backend_of(
    run: Run, store: Store | None = None, given: ClusterBackend | None = None
) -> ClusterBackend:
    """The backend a run was submitted to, configured as it was submitted when `store` holds
    its job file (a backend's config may say where its scheduler is: Ray's address); `given`
    when it is that backend with that config (it keeps its connection)."""
    name = run.tags.get(T.PROJECT_BACKEND) or LEGACY_CLUSTER
    config = recorded_config(store, run) if store is not None else None
    if given is not None and given.name == name and config in (None, dict(given.config)):
        return given
    return cluster_backend(name, config)


def by_backend(
    store: Store, runs: Sequence[Run], given: ClusterBackend | None = None
) -> list[tuple[ClusterBackend, list[Run]]]:
    """`runs` grouped by the backend (and config) each was submitted to."""
    groups: dict[tuple[str, str], tuple[ClusterBackend, list[Run]]] = {}
    for run in runs:
        name = run.tags.get(T.PROJECT_BACKEND) or LEGACY_CLUSTER
        config = recorded_config(store, run)
        key = (name, json.dumps(config, sort_keys=True, default=str))
        if key not in groups:
            groups[key] = (backend_of(run, store, given), [])
        groups[key][1].append(run)
    return list(groups.values())


def sync(
    store: Store, run_ids: Sequence[str] | None = None, backend: ClusterBackend | None = None
) -> list[Change]:
    """Bring submitted runs up to date: one scheduler poll per backend, then each run folder."""
    runs = active_runs(store, run_ids)
    if not runs:
        return []
    states: dict[str, JobState] = {}
    for polled, group in by_backend(store, runs, backend):
        states.update(_poll(store, polled, group))
    changes = []
    for run in runs:
        after = sync_one(store, run, states.get(job_id_of(run) or ""))
        if after != run.status:
            changes.append(Change(run.run_id, run.status, after))
    index = store.index()
    if index is not None:
        _finish_sweeps(index, {r.tags.get(T.SWEEP_ID) for r in runs} - {None})
    return changes


def _poll(store: Store, backend: ClusterBackend, runs: Sequence[Run]) -> dict[str, JobState]:
    ids = [j for r in runs if (j := job_id_of(r)) is not None]
    states = backend.poll(ids)
    gone = [
        j
        for r in runs
        if (j := job_id_of(r)) is not None
        and j not in states
        and not (job_dir(store, r.run_id) / EXIT_FILE).exists()
    ]
    if gone:
        states.update(backend.final(gone))  # the scheduler's last word, where it keeps one
    return states


def refresh(store: Store, run_ids: Sequence[str] | None = None) -> None:
    """Ingest what the nodes wrote for runs submitted to a cluster, if there are any; a
    scheduler that cannot be asked is a warning, not an error (the records stay as they are)."""
    if store.index() is not None:
        if not any_active(store):
            return
    elif not run_ids:
        return  # a server store has no index of our jobs: only runs asked about by id
    try:
        sync(store, run_ids)
    except BackendError as exc:
        console.warn(f"submitted runs not brought up to date: {exc}")


def ours(run: Run, state: JobState | None) -> JobState | None:
    """`state` if it is our job: the same name, submitted no earlier than we submitted it.

    Schedulers reuse job ids (Slurm after MaxJobId, or a controller that lost its state); a
    requeue moves the submit time forward, so only an earlier submit time means another job.
    """
    if state is None:
        return None
    name = T.job_tag(run.tags, T.JOB_NAME)
    if name and state.name and state.name != name:
        return None
    try:
        submitted = float(T.job_tag(run.tags, T.JOB_SUBMIT_TIME) or "0")
    except ValueError:
        submitted = 0.0
    if state.submit_time is not None and state.submit_time < submitted - _CLOCK_SLACK_S:
        return None
    return state


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """One sync of a run folder at a time (two `runs status` at once ingest nothing twice)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".sync.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _started_on_server(run: Run) -> dict[str, Any] | None:
    """What started.json would say, for a node that set the run RUNNING on the server."""
    if run.status != RUNNING:
        return None
    host = T.job_tag(run.tags, T.JOB_NODE)
    return {"host": host, "time_ms": run.start_time or int(time.time() * 1000), "restart": 0}


def _mark_started(store: Store, run_id: str, started: Mapping[str, Any]) -> None:
    index = store.index()
    if index is not None:
        index.mark_started(run_id, str(started.get("host")), int(started["time_ms"]))
    else:
        store.set_status(run_id, RUNNING)


def _observed_tags(
    run: Run, state: JobState | None, started: Mapping[str, Any] | None, restarts: int
) -> dict[str, str]:
    tags: dict[str, str] = {}
    if restarts and str(restarts) != T.job_tag(run.tags, T.JOB_RESTARTS):
        tags[T.JOB_RESTARTS] = str(restarts)
    if state is not None and T.job_tag(run.tags, T.JOB_STATE) != state.state:
        tags[T.JOB_STATE] = state.state
    if started and started.get("host") and T.job_tag(run.tags, T.JOB_NODE) != started["host"]:
        tags[T.JOB_NODE] = str(started["host"])
    return tags


def sync_one(store: Store, run: Run, state: JobState | None) -> str:
    """Ingest one run's folder and decide its status; returns the status now recorded."""
    folder = job_dir(store, run.run_id)
    with _lock(folder):
        run = store.get_run(run.run_id)  # another sync may have got here first
        if run.status not in ACTIVE:
            return run.status
        state = ours(run, state)
        index = store.index()
        if index is not None:  # a server store gets its events from the node
            ingest_events(index, run)
        if shares_folder(read_json(folder / JOB_FILE) or {}):
            started = read_json(folder / STARTED_FILE)
            ended = read_json(folder / EXIT_FILE)
        else:  # the node records into the server: its end is the run's status, read above
            started, ended = _started_on_server(run), None
        restarts = max(state.restarts if state else 0, int((started or {}).get("restart", 0)))
        if tags := _observed_tags(run, state, started, restarts):
            store.log_batch(run.run_id, tags=tags)
        final = decide(run, state, started, ended, restarts, folder)
        if final is not None:
            status, exit_code, end_ms, final_tags = final
            if run.status == SCHEDULED and started:
                _mark_started(store, run.run_id, started)
            if final_tags:
                store.log_batch(run.run_id, tags=final_tags)
            store.set_terminated(run.run_id, status, end_ms, exit_code)
            return status
        status_now = state.status if state is not None else None
        if (
            started
            and int(started.get("restart", 0)) == restarts
            and status_now == JobStatus.RUNNING
        ):
            if run.status != RUNNING:
                _mark_started(store, run.run_id, started)
            return RUNNING
        if status_now == JobStatus.PENDING:
            if run.status != SCHEDULED:
                store.set_status(run.run_id, SCHEDULED)
            return SCHEDULED
        return run.status


def decide(
    run: Run,
    state: JobState | None,
    started: Mapping[str, Any] | None,
    ended: Mapping[str, Any] | None,
    restarts: int,
    folder: Path,
) -> Final | None:
    """(status, exit code, end time, tags) if the run has ended, else None (the status table
    of docs/cluster.md)."""
    now = int(time.time() * 1000)
    status_now = state.status if state is not None else None
    if ended is not None and int(ended.get("restart", 0)) >= restarts:
        if status_now == JobStatus.PENDING:
            return None  # requeued: this attempt's end does not count
        return _from_exit(ended, state, folder, now)
    if state is None:
        if (folder / CANCELLED_FILE).exists():
            return KILLED, None, now, {T.JOB_REASON: "CANCELLED"}
        backend = run.tags.get(T.PROJECT_BACKEND) or LEGACY_CLUSTER
        reason = f"{backend} job {job_id_of(run)} left the queue without writing an exit code"
        return LOST_STATUS, None, now, lost_tags(reason)
    end_ms = int(state.end_time * 1000) if state.end_time else now
    if status_now == JobStatus.COMPLETED:
        return FINISHED, 0, end_ms, {}
    if status_now in (JobStatus.FAILED, JobStatus.ENDED):
        return FAILED, None, end_ms, {T.JOB_REASON: state.state}
    if status_now == JobStatus.CANCELLED:
        return KILLED, None, end_ms, {T.JOB_REASON: "CANCELLED"}
    return None


def _from_exit(
    ended: Mapping[str, Any], state: JobState | None, folder: Path, now: int
) -> Final | None:
    # A clean exit is final at once; one caused by a signal waits for the scheduler's word,
    # since a preempted job that will be requeued is signalled the same way.
    status_now = state.status if state is not None else None
    if ended.get("signal") is not None and status_now == JobStatus.RUNNING:
        return None
    status = str(ended.get("status") or FAILED)
    tags: dict[str, str] = {}
    if state is not None and status_now == JobStatus.ENDED and status != FINISHED:
        status = FAILED
        tags[T.JOB_REASON] = state.state
    elif ended.get("signal") is not None:
        cancelled = (folder / CANCELLED_FILE).exists() or status_now == JobStatus.CANCELLED
        tags[T.JOB_REASON] = "CANCELLED" if cancelled else _signal_name(ended["signal"])
    code = ended.get("exit_code")
    return (
        status,
        int(code) if code is not None else None,
        int(ended.get("end_ms") or now),
        tags,
    )


def _signal_name(signum: Any) -> str:
    try:
        return signal.Signals(int(signum)).name
    except (TypeError, ValueError):
        return f"signal {signum}"


def ingest_events(index: RunIndex, run: Run) -> None:
    """Record the lines the node appended to the run's events file since the last look."""
    from mlrun_cli.store.events import EventReader, ingest

    folder = job_dir(index, run.run_id)
    job = read_json(folder / JOB_FILE) or {}
    reader = EventReader(index.run_dir(run.run_id) / EVENTS_FILE, Path(job.get("project_dir", ".")))
    mark = read_json(folder / INGESTED_FILE) or {}
    reader.offset = int(mark.get("offset", 0))
    reader.line_no = int(mark.get("line", 0))
    batch = reader.read()
    if reader.offset == mark.get("offset", 0):
        return
    ingest(batch, run.run_id, index.log_batch, index.artifact_dir(run.run_id), console.warn)
    write_json(folder / INGESTED_FILE, {"offset": reader.offset, "line": reader.line_no})


def active_in_sweep(index: RunIndex, sweep_id: str) -> int:
    counts = index.count_tagged_by_status(T.SWEEP_ID, sweep_id)
    return sum(n for status, n in counts.items() if status in ACTIVE)


def _finish_sweeps(index: RunIndex, sweep_ids: set[Any]) -> None:
    """A submitted sweep whose trials have all ended is recorded as ended too."""
    from mlrun_cli.sweeps.summary import finish_sweep

    for sweep_id in sweep_ids:
        if not sweep_id:
            continue
        sweep = index.get_run(sweep_id)
        if sweep.status != RUNNING or active_in_sweep(index, sweep_id):
            continue
        finish_sweep(index, sweep_id, None)
