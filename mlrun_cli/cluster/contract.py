"""Runs executed by a batch scheduler: the run-folder contract between submitter and node.

The submitting machine owns the store. It creates the run SCHEDULED, stages an exact snapshot
of the source, builds the environment into the shared cache, writes ``job/job.json`` into the
run folder and submits ``mlrun _exec``. The node never opens the store (SQLite over a network
filesystem is not safe); it writes files into the run folder instead:

- ``job/started.json``: host, pid, start time and restart count of each attempt,
- ``job/heartbeat``: touched while the command runs,
- ``job/exit.json``: exit code, status and the signal that ended it, written before it exits,
- ``events.jsonl`` and ``artifacts/mlrun-output.log``: what a local run writes too.

The submitting side ingests those files, with one batched scheduler poll for the state, on
every `runs status`, `runs list`, `runs show`, `sweep show` and while it waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_cli import console
from mlrun_cli.backends import Backend, BackendError, JobState
from mlrun_cli.backends.slurm.backend import FAILED_STATES, PENDING_STATES, RUNNING_STATES
from mlrun_cli.store.base import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    SCHEDULED,
    Run,
)
from mlrun_cli.store.sqlite.store import SqliteStore

JOB_DIR = "job"
JOB_FILE = "job.json"
STARTED_FILE = "started.json"
HEARTBEAT_FILE = "heartbeat"
EXIT_FILE = "exit.json"
EVENTS_FILE = "events.jsonl"
CANCELLED_FILE = "cancelled.json"
INGESTED_FILE = "ingested.json"
OUTPUT_LOG = "mlrun-output.log"

JOB_ID_TAG = "mlrun.slurm.job_id"
SUBMIT_TAG = "mlrun.slurm.submit_time"
JOB_NAME_TAG = "mlrun.slurm.job_name"
REASON_TAG = "mlrun.slurm.reason"
RESTARTS_TAG = "mlrun.slurm.restarts"
STATE_TAG = "mlrun.slurm.state"
NODE_TAG = "mlrun.slurm.node"

ACTIVE = (SCHEDULED, RUNNING)
# The scheduler ended the job (the command did not fail by itself).
SCHEDULER_ENDED = FAILED_STATES - {"FAILED"}
# After a cancel, how long to wait for the scheduler to confirm before giving up waiting.
_GIVE_UP_S = 120
# Slurm keeps the submit time of a job to the second, on the controller's clock.
_CLOCK_SLACK_S = 120


def job_dir(store: Any, run_id: str) -> Path:
    return store.run_dir(run_id) / JOB_DIR


def heartbeat_interval() -> float:
    try:
        return max(0.1, float(os.environ.get("MLRUN_HEARTBEAT", "10")))
    except ValueError:
        return 10.0


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- on the node ---------------------------------------------------------------------------


def node_exec(run_dir: Path, run_id: str) -> int:
    """Perform the run `run_id` as described by its job.json; record into the run folder.

    With an MLflow server store the node also writes the run's status, events and files to
    the server directly (it is a network service, not a file).
    """
    from mlrun_cli.backends.local import SignalRelay, execute
    from mlrun_cli.envs import get_manager
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.run.flow import child_environment, point_mlflow

    folder = run_dir / JOB_DIR
    job = read_json(folder / JOB_FILE)
    if job is None:
        raise BackendError(f"{folder / JOB_FILE}: missing or unreadable; was the run submitted?")
    restart = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    # A restarted job continues the same run: the previous attempt's end does not count.
    with contextlib.suppress(FileNotFoundError):
        (folder / EXIT_FILE).unlink()
    relay = SignalRelay()
    relay.install()
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        # Slurm's early warning (--signal=B:USR1@90) goes to the command's process group.
        signal.signal(sig, lambda signum, frame: relay.forward(signum))
    write_json(
        folder / STARTED_FILE,
        {
            "host": os.uname().nodename,
            "pid": os.getpid(),
            "time_ms": int(time.time() * 1000),
            "restart": restart,
            "job_id": _slurm_job_id(),
        },
    )
    stop_beat = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(folder / HEARTBEAT_FILE, stop_beat))
    beat.daemon = True
    beat.start()
    status, exit_code, received = FAILED, 1, None
    server = _server_store(job)
    artifacts = run_dir / "artifacts"
    capture = None
    if job.get("capture"):
        from mlrun_cli.run.capture import MetricCapture

        capture = MetricCapture(job.get("capture_pattern"))
    drain: Callable[[], None] | None = None
    scratch = None
    try:
        if server is not None:
            server.set_status(run_id, RUNNING)
            from mlrun_cli.store.events import EventReader, drainer

            reader = EventReader(run_dir / EVENTS_FILE, Path(job["project_dir"]))
            drain = drainer(reader, run_id, server.log_batch, artifacts, capture)
        else:
            if job.get("mlflow_endpoint", True):
                from mlrun_cli.store.endpoint.scratch import open_scratch

                scratch = open_scratch(job, run_dir)
            drain = _local_drain(capture, scratch, run_dir / EVENTS_FILE)
        project = load_project(Path(job["project_dir"]))
        frozen = Path(job["frozen"]) if job.get("frozen") else None
        env = get_manager(job["env_manager"]).prepare(
            project, frozen=frozen, cancelled=lambda: relay.received is not None
        )
        if job.get("env_build") == "node":
            _record_env(env, server, run_id, run_dir / EVENTS_FILE)
        checkpoints = run_dir / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        child_env = child_environment(
            os.environ,
            run_id=run_id,
            experiment_id=job["experiment_id"],
            tracking_uri=job["tracking_uri"],
            run_dir=run_dir,
            artifact_dir=artifacts,
            env=env,
        )
        point_mlflow(
            child_env,
            endpoint_env=scratch.child_env() if scratch is not None else None,
            server_uri=job["tracking_uri"] if server is not None else None,
            run_id=run_id,
            experiment_id=job["experiment_id"],
        )
        child_env["MLRUN_RESTART_COUNT"] = str(restart)
        child_env["MLRUN_CHECKPOINT_DIR"] = str(checkpoints)
        if relay.received is None:
            outcome = execute(
                job["command"],
                cwd=project.dir,
                env=child_env,
                log_path=Path(os.devnull),  # our stdout is the log already
                relay=relay,
                on_tick=drain,
                on_output=capture.feed if capture is not None else None,
            )
            if capture is not None:
                capture.flush()
            received = outcome.signal or outcome.child_signal
            exit_code = outcome.exit_code
            status = outcome.status(scratch.child_status if scratch is not None else None)
        else:
            received, status, exit_code = relay.received, KILLED, 128 + relay.received
    except BaseException as exc:
        if relay.received is not None:
            received, status, exit_code = relay.received, KILLED, 128 + relay.received
        print(f"mlrun: {exc}", file=sys.stderr, flush=True)
        if not isinstance(exc, Exception):
            raise
    finally:
        stop_beat.set()
        relay.restore()
        if server is not None:
            _server_end(server, run_id, drain, artifacts, status, exit_code)
        elif drain is not None:
            drain()
        if scratch is not None:
            for warning in scratch.close():
                print(f"mlrun: {warning}", file=sys.stderr, flush=True)
        write_json(
            folder / EXIT_FILE,
            {
                "exit_code": exit_code,
                "status": status,
                "signal": received,
                "restart": restart,
                "end_ms": int(time.time() * 1000),
                "host": os.uname().nodename,
            },
        )
    return exit_code


def _server_store(job: Mapping[str, Any]) -> Any:
    """The MLflow server the run records into, or None for the embedded store (which the node
    never opens: `open_store` only makes the object)."""
    from mlrun_cli.store import open_store

    store = open_store(str(job["tracking_uri"]))
    return None if isinstance(store, SqliteStore) else store


def _local_drain(capture: Any, scratch: Any, events: Path) -> Callable[[], None]:
    """Captured metrics and what the command logged through the endpoint become lines of the
    events file, which the submitting side ingests."""

    from mlrun_cli.store.events import append_events

    def drain() -> None:
        if scratch is not None:
            scratch.export()
        captured = capture.take() if capture is not None else []
        append_events(
            events,
            [
                {"type": "metric", "key": m.key, "value": m.value, "step": m.step,
                 "timestamp": m.timestamp}
                for m in captured
            ],
        )  # fmt: skip

    return drain


def _server_end(
    server: Any,
    run_id: str,
    drain: Callable[[], None] | None,
    artifacts: Path,
    status: str,
    exit_code: int,
) -> None:
    try:
        if drain is not None:
            drain()
        server.upload_artifacts(run_id, keep=(OUTPUT_LOG,), root=artifacts)
        server.set_terminated(run_id, status, int(time.time() * 1000), exit_code)
    except Exception as exc:  # the run folder still records the end
        print(f"mlrun: could not record the end on the server: {exc}", file=sys.stderr)


def _record_env(env: Any, server: Any, run_id: str, events: Path) -> None:
    """The environment built on the node is part of the run's provenance too."""
    from mlrun_cli.run.flow import _env_tags
    from mlrun_cli.store.events import append_events

    tags = _env_tags(env)
    if server is not None:
        server.log_batch(run_id, tags=tags)
    else:
        append_events(events, [{"type": "tag", "key": k, "value": v} for k, v in tags.items()])


def _slurm_job_id() -> str | None:
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def _heartbeat(path: Path, stop: threading.Event) -> None:
    interval = heartbeat_interval()
    while True:
        with contextlib.suppress(OSError):
            path.write_text(str(int(time.time() * 1000)))
        if stop.wait(interval):
            return


def sweep_trial(store: SqliteStore, sweep_id: str, index: int) -> str:
    """The run id of trial `index` of a submitted sweep (from the sweep's job folder)."""
    trials = read_json(store.run_dir(sweep_id) / JOB_DIR / "trials.json") or {}
    try:
        return str(trials[str(index)])
    except KeyError:
        raise BackendError(f"sweep {sweep_id[:8]} has no trial {index}") from None


# -- on the submitting machine --------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What a sync did to one run."""

    run_id: str
    before: str
    after: str


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """One sync of a run folder at a time (two `runs status` at once ingest nothing twice)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".sync.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def active_runs(store: Any, run_ids: Sequence[str] | None = None) -> list[Run]:
    """Submitted runs that have not ended (SCHEDULED or RUNNING with a job id).

    A server store is asked about `run_ids` only (it has no index of our jobs).
    """
    if not isinstance(store, SqliteStore):
        runs = [store.get_run(i) for i in run_ids or []]
        return [r for r in runs if r.status in ACTIVE and JOB_ID_TAG in r.tags]
    sql = (
        "SELECT r.run_id FROM runs r JOIN tags t ON t.run_id = r.run_id AND t.key = ? "
        "WHERE r.status IN ('SCHEDULED', 'RUNNING')"
    )
    ids = [row[0] for row in store.conn.execute(sql, (JOB_ID_TAG,)).fetchall()]
    if run_ids is not None:
        wanted = set(run_ids)
        ids = [i for i in ids if i in wanted]
    return store.load_runs(ids) if ids else []


def sync(
    store: Any, run_ids: Sequence[str] | None = None, backend: Backend | None = None
) -> list[Change]:
    """Bring submitted runs up to date: one scheduler poll, then each run folder."""
    runs = active_runs(store, run_ids)
    if not runs:
        return []
    if backend is None:
        from mlrun_cli.backends.slurm.backend import SlurmBackend

        backend = SlurmBackend({})
    states = backend.poll([r.tags[JOB_ID_TAG] for r in runs])
    gone = [
        r.tags[JOB_ID_TAG]
        for r in runs
        if r.tags[JOB_ID_TAG] not in states and not (job_dir(store, r.run_id) / EXIT_FILE).exists()
    ]
    final = getattr(backend, "final", None)
    if gone and final is not None:
        states.update(final(gone))  # sacct, where accounting works, for the last word
    changes = []
    for run in runs:
        after = sync_one(store, run, states.get(run.tags[JOB_ID_TAG]))
        if after != run.status:
            changes.append(Change(run.run_id, run.status, after))
    if isinstance(store, SqliteStore):
        _finish_sweeps(store, {r.tags.get("mlrun.sweep.id") for r in runs} - {None})
    return changes


def refresh(store: Any, run_ids: Sequence[str] | None = None) -> None:
    """Ingest what the nodes wrote for runs submitted to a cluster, if there are any; a
    scheduler that cannot be asked is a warning, not an error (the records stay as they are)."""
    if isinstance(store, SqliteStore):
        if not store.any_active_with_tag(JOB_ID_TAG):
            return
    elif not run_ids:
        return  # a server store has no index of our jobs: only runs asked about by id
    try:
        sync(store, run_ids)
    except BackendError as exc:
        console.warn(f"submitted runs not brought up to date: {exc}")


def _ours(run: Run, state: JobState | None) -> JobState | None:
    """`state` if it is our job: the same name, submitted no earlier than we submitted it.

    Slurm reuses job ids (after MaxJobId, or a controller that lost its state); a requeue
    moves the submit time forward, so only an earlier submit time means another job.
    """
    if state is None:
        return None
    name = run.tags.get(JOB_NAME_TAG)
    if name and state.name and state.name != name:
        return None
    try:
        submitted = float(run.tags.get(SUBMIT_TAG, "0"))
    except ValueError:
        submitted = 0.0
    if state.submit_time is not None and state.submit_time < submitted - _CLOCK_SLACK_S:
        return None
    return state


def _mark_started(store: Any, run_id: str, started: Mapping[str, Any]) -> None:
    mark = getattr(store, "mark_started", None)
    if mark is not None:
        mark(run_id, str(started.get("host")), int(started["time_ms"]))
    else:
        store.set_status(run_id, RUNNING)


def sync_one(store: Any, run: Run, state: JobState | None) -> str:
    """Ingest one run's folder and decide its status; returns the status now recorded."""
    folder = job_dir(store, run.run_id)
    with _lock(folder):
        run = store.get_run(run.run_id)  # another sync may have got here first
        if run.status not in ACTIVE:
            return run.status
        state = _ours(run, state)
        if isinstance(store, SqliteStore):  # a server store gets its events from the node
            _ingest_events(store, run)
        started = read_json(folder / STARTED_FILE)
        ended = read_json(folder / EXIT_FILE)
        restarts = max(state.restarts if state else 0, int((started or {}).get("restart", 0)))
        tags: dict[str, str] = {}
        if restarts and str(restarts) != run.tags.get(RESTARTS_TAG):
            tags[RESTARTS_TAG] = str(restarts)
        if state is not None and run.tags.get(STATE_TAG) != state.state:
            tags[STATE_TAG] = state.state
        if started and started.get("host") and run.tags.get(NODE_TAG) != started["host"]:
            tags[NODE_TAG] = str(started["host"])
        if tags:
            store.log_batch(run.run_id, tags=tags)
        final = _final(run, state, started, ended, restarts, folder)
        if final is not None:
            status, exit_code, end_ms, final_tags = final
            if run.status == SCHEDULED and started:
                _mark_started(store, run.run_id, started)
            if final_tags:
                store.log_batch(run.run_id, tags=final_tags)
            store.set_terminated(run.run_id, status, end_ms, exit_code)
            return status
        scheduler_running = state is not None and state.state in RUNNING_STATES
        if started and int(started.get("restart", 0)) == restarts and scheduler_running:
            if run.status != RUNNING:
                _mark_started(store, run.run_id, started)
            return RUNNING
        if state is not None and (state.state in PENDING_STATES or state.state == "PREEMPTED"):
            if run.status != SCHEDULED:
                store.set_status(run.run_id, SCHEDULED)
            return SCHEDULED
        return run.status


def _final(
    run: Run,
    state: JobState | None,
    started: Mapping[str, Any] | None,
    ended: Mapping[str, Any] | None,
    restarts: int,
    folder: Path,
) -> tuple[str, int | None, int, dict[str, str]] | None:
    """(status, exit code, end time, tags) if the run has ended, else None."""
    now = int(time.time() * 1000)
    pending = state is not None and (state.state in PENDING_STATES or state.state == "PREEMPTED")
    if ended is not None and int(ended.get("restart", 0)) >= restarts and not pending:
        # A clean exit is final at once; one caused by a signal waits for the scheduler's
        # word, since a preempted job that will be requeued is signalled the same way.
        if ended.get("signal") is None or state is None or state.state not in RUNNING_STATES:
            status = str(ended.get("status") or FAILED)
            tags: dict[str, str] = {}
            if state is not None and state.state in SCHEDULER_ENDED and status != FINISHED:
                status = FAILED
                tags[REASON_TAG] = state.state
            elif ended.get("signal") is not None:
                cancelled = (folder / CANCELLED_FILE).exists() or (
                    state is not None and state.state == "CANCELLED"
                )
                tags[REASON_TAG] = "CANCELLED" if cancelled else _signal_name(ended["signal"])
            code = ended.get("exit_code")
            return (
                status,
                int(code) if code is not None else None,
                int(ended.get("end_ms") or now),
                tags,
            )
        return None
    if state is None:
        if (folder / CANCELLED_FILE).exists():
            return KILLED, None, now, {REASON_TAG: "CANCELLED"}
        return (
            KILLED,
            None,
            now,
            {
                "mlrun.lost": "true",
                "mlrun.lost.reason": f"slurm job {run.tags.get(JOB_ID_TAG)} left the queue "
                "without writing an exit code",
            },
        )
    end_ms = int(state.end_time * 1000) if state.end_time else now
    if state.state == "COMPLETED":
        return FINISHED, 0, end_ms, {}
    if state.state in FAILED_STATES:
        return FAILED, None, end_ms, {REASON_TAG: state.state}
    if state.state == "CANCELLED":
        return KILLED, None, end_ms, {REASON_TAG: "CANCELLED"}
    return None


def _signal_name(signum: Any) -> str:
    try:
        return signal.Signals(int(signum)).name
    except (TypeError, ValueError):
        return f"signal {signum}"


def _ingest_events(store: SqliteStore, run: Run) -> None:
    from mlrun_cli.store.events import EventReader, ingest

    folder = job_dir(store, run.run_id)
    job = read_json(folder / JOB_FILE) or {}
    reader = EventReader(
        store.run_dir(run.run_id) / "events.jsonl", Path(job.get("project_dir", "."))
    )
    mark = read_json(folder / INGESTED_FILE) or {}
    reader.offset = int(mark.get("offset", 0))
    reader.line_no = int(mark.get("line", 0))
    batch = reader.read()
    if reader.offset == mark.get("offset", 0):
        return
    ingest(batch, run.run_id, store.log_batch, store.artifact_dir(run.run_id), console.warn)
    write_json(folder / INGESTED_FILE, {"offset": reader.offset, "line": reader.line_no})


def _finish_sweeps(store: SqliteStore, sweep_ids: set[Any]) -> None:
    """A submitted sweep whose trials have all ended is recorded as ended too."""
    for sweep_id in sweep_ids:
        if not sweep_id:
            continue
        sweep = store.get_run(sweep_id)
        if sweep.status != RUNNING or active_in_sweep(store, sweep_id):
            continue
        from mlrun_cli.sweeps.scheduler import finish_sweep

        finish_sweep(store, sweep_id, None)


def active_in_sweep(store: SqliteStore, sweep_id: str) -> int:
    row = store.conn.execute(
        "SELECT COUNT(*) FROM runs r JOIN tags t ON t.run_id = r.run_id "
        "AND t.key = 'mlrun.sweep.id' AND t.value = ? WHERE r.status IN ('SCHEDULED', 'RUNNING')",
        (sweep_id,),
    ).fetchone()
    return int(row[0])


def mark_cancelled(store: Any, run_ids: Sequence[str]) -> None:
    """Remember that we cancelled these, so a job gone from the queue reads KILLED, not LOST."""
    for rid in run_ids:
        write_json(job_dir(store, rid) / CANCELLED_FILE, {"time_ms": int(time.time() * 1000)})


# -- waiting, attached ----------------------------------------------------------------------


class _Tail:
    """Copies what is appended to a log file to a stream."""

    def __init__(self, path: Path, sink: Any) -> None:
        self.path = path
        self.sink = sink
        self.offset = 0

    def pump(self) -> None:
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


class Interrupt:
    """Signals received while waiting: the first cancels gently, a later one (or the grace
    period) cancels for good."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.count = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.signal = self.signal or signum


def cancel_runs(store: Any, backend: Backend, runs: Sequence[Run], *, gentle: bool) -> None:
    """One cancel call for pending jobs and one for running ones (gently: INT to mlrun on the
    node, which forwards it)."""
    from mlrun_cli.backends.local import grace_period

    pending = [r.tags[JOB_ID_TAG] for r in runs if r.status == SCHEDULED]
    running = [r.tags[JOB_ID_TAG] for r in runs if r.status == RUNNING]
    mark_cancelled(store, [r.run_id for r in runs])
    if gentle and running and grace_period() > 0:
        backend.cancel(pending)
        backend.cancel(running, signal="INT")
    else:
        backend.cancel(pending + running)


def wait(
    store: Any,
    backend: Backend,
    run_ids: Sequence[str],
    *,
    poll_interval: float,
    tail: Path | None = None,
    sink: Any = None,
    on_change: Callable[[Change], None] | None = None,
) -> int | None:
    """Wait until every run in `run_ids` has ended, streaming `tail`; returns the signal that
    interrupted the wait (the runs were then cancelled), or None."""
    from mlrun_cli.backends.local import grace_period

    follower = _Tail(tail, sink or sys.stdout.buffer) if tail is not None else None
    next_poll = 0.0
    cancelled_at: float | None = None
    hard = False
    warned: set[str] = set()
    with Interrupt() as intr:
        while True:
            if follower is not None:
                follower.pump()
            now = time.monotonic()
            if intr.signal is not None and cancelled_at is None:
                cancelled_at = now
                cancel_runs(store, backend, active_runs(store, run_ids), gentle=True)
                next_poll = 0.0
            elif (
                cancelled_at is not None
                and not hard
                and (intr.count > 1 or now - cancelled_at > grace_period())
            ):
                hard = True
                cancel_runs(store, backend, active_runs(store, run_ids), gentle=False)
                next_poll = 0.0
            if now >= next_poll:
                next_poll = now + poll_interval
                try:
                    changes = sync(store, run_ids, backend)
                except BackendError as exc:
                    if str(exc) not in warned:  # once per problem, not once per poll
                        warned.add(str(exc))
                        console.warn(f"{exc}; trying again every poll")
                    changes = []
                for change in changes:
                    if on_change is not None:
                        on_change(change)
                if not active_runs(store, run_ids):
                    if follower is not None:
                        follower.pump()
                    return intr.signal
                if cancelled_at is not None and now - cancelled_at > grace_period() + _GIVE_UP_S:
                    console.warn(
                        "the scheduler has not confirmed the end of every job; see "
                        "'mlrun runs status' later"
                    )
                    return intr.signal
            time.sleep(min(0.1, poll_interval))
