"""On the node: perform a submitted run as described by its job.json, recording into the run
folder (or, with an MLflow server store, into the server as well).

The steps are a local run's (`run.launch`): prepare the environment, launch the command under
the same supervisor and signal relay. What differs is the recorder: the node never opens the
embedded store; the events file is the one channel the submitting side reads back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrun_cli import tags as T
from mlrun_cli.backends import LEGACY_CLUSTER, BackendError, cluster_backend
from mlrun_cli.cluster.files import (
    EVENTS_FILE,
    EXIT_FILE,
    HEARTBEAT_FILE,
    JOB_DIR,
    JOB_FILE,
    OUTPUT_LOG,
    STARTED_FILE,
    heartbeat_interval,
    read_json,
    write_json,
)
from mlrun_cli.envs import Environment
from mlrun_cli.run.child import child_environment, point_mlflow
from mlrun_cli.run.launch import launch, prepare_environment
from mlrun_cli.run.provenance import env_tags
from mlrun_cli.run.recorder import Recorder, StoreRecorder
from mlrun_cli.run.supervise import Outcome, SignalRelay
from mlrun_cli.store.base import FAILED, KILLED, RUNNING, Store

if TYPE_CHECKING:
    from mlrun_cli.run.capture import MetricCapture
    from mlrun_cli.store.endpoint.scratch import ScratchEndpoint


class FolderRecorder:
    """Captured metrics and what the command logs through the scratch endpoint become lines
    of the events file, which the submitting side ingests."""

    def __init__(
        self, events: Path, capture: MetricCapture | None, scratch: ScratchEndpoint | None
    ) -> None:
        self.events = events
        self.capture = capture
        self.scratch = scratch

    def point(self, child_env: dict[str, str]) -> None:
        if self.scratch is not None:
            point_mlflow(child_env, endpoint_env=self.scratch.child_env())

    def tick(self) -> None:
        from mlrun_cli.store.events import append_events

        if self.scratch is not None:
            self.scratch.export()
        captured = self.capture.take() if self.capture is not None else []
        append_events(
            self.events,
            [
                {"type": "metric", "key": m.key, "value": m.value, "step": m.step,
                 "timestamp": m.timestamp}
                for m in captured
            ],
        )  # fmt: skip

    def child_status(self) -> str | None:
        return self.scratch.child_status if self.scratch is not None else None

    def close(self, status: str) -> list[str]:
        return self.scratch.close() if self.scratch is not None else []

    def record_env(self, env: Environment) -> None:
        from mlrun_cli.store.events import append_events

        tags = env_tags(env)
        append_events(self.events, [{"type": "tag", "key": k, "value": v} for k, v in tags.items()])


class _Attempt:
    """This attempt's files: started.json now, a heartbeat while it runs, exit.json at the end
    (none without a `folder`: the node then records into the server only)."""

    def __init__(self, folder: Path | None, job: Mapping[str, Any]) -> None:
        backend = cluster_backend(str(job.get("backend") or LEGACY_CLUSTER))
        node = backend.node_job(os.environ)
        self.folder = folder
        self.restart = node.restart
        self._stop = threading.Event()
        if folder is None:
            return
        # A restarted job continues the same run: the previous attempt's end does not count.
        with contextlib.suppress(FileNotFoundError):
            (folder / EXIT_FILE).unlink()
        write_json(
            folder / STARTED_FILE,
            {
                "host": os.uname().nodename,
                "pid": os.getpid(),
                "time_ms": int(time.time() * 1000),
                "restart": node.restart,
                "job_id": node.job_id,
            },
        )
        beat = threading.Thread(target=self._beat, daemon=True)
        beat.start()

    def _beat(self) -> None:
        assert self.folder is not None
        interval = heartbeat_interval()
        while True:
            with contextlib.suppress(OSError):
                (self.folder / HEARTBEAT_FILE).write_text(str(int(time.time() * 1000)))
            if self._stop.wait(interval):
                return

    def end(self, status: str, exit_code: int, received: int | None) -> None:
        self._stop.set()
        if self.folder is None:
            return
        write_json(
            self.folder / EXIT_FILE,
            {
                "exit_code": exit_code,
                "status": status,
                "signal": received,
                "restart": self.restart,
                "end_ms": int(time.time() * 1000),
                "host": os.uname().nodename,
            },
        )


def node_exec(run_dir: Path, run_id: str) -> int:
    """Perform the run `run_id` as described by its job.json; record into the run folder.

    With an MLflow server store the node also writes the run's status, events and files to
    the server directly (it is a network service, not a file).
    """
    folder = run_dir / JOB_DIR
    job = read_json(folder / JOB_FILE)
    if job is None:
        raise BackendError(f"{folder / JOB_FILE}: missing or unreadable; was the run submitted?")
    return _execute(job, run_id, run_dir, folder)


def node_exec_uploaded(job_file: Path) -> int:
    """Perform a run whose job file came with it, beside its snapshot (a job that shares no
    folder with the submitting machine: Ray's working_dir). It records into the MLflow server
    store, where the run was created SCHEDULED; its run folder is this node's own (the
    server store's spool), and no started.json, heartbeat or exit.json is written."""
    job = read_json(job_file)
    if job is None:
        raise BackendError(f"{job_file}: missing or unreadable; was the run submitted?")
    here = job_file.absolute().parent
    job["project_dir"] = str(here / str(job["project_dir"]))
    if job.get("frozen"):
        job["frozen"] = str(here / str(job["frozen"]))
    server = _server_store(job)
    if server is None:
        raise BackendError(
            f"{job_file}: the run records into {job.get('tracking_uri')}, which is not an "
            "MLflow server; a job without a shared filesystem needs one"
        )
    run_id = str(job["run_id"])
    run_dir = server.run_dir(run_id)
    code = _execute(job, run_id, run_dir, None, log=run_dir / "artifacts" / OUTPUT_LOG)
    from mlrun_cli.store.mlflow_rest.store import PENDING

    if not (run_dir / PENDING).exists():  # all sent: nothing of the run is kept here
        shutil.rmtree(run_dir, ignore_errors=True)
    return code


def _execute(
    job: Mapping[str, Any],
    run_id: str,
    run_dir: Path,
    folder: Path | None,
    log: Path | None = None,
) -> int:
    """The node's flow: launch under the signal relay, record, write the attempt's files
    into `folder` (if any). `log`: a copy of the output (else our stdout is the log)."""
    relay = SignalRelay()
    relay.install()
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        # A scheduler's early warning (Slurm's --signal=B:USR1@90) goes to the command's group.
        signal.signal(sig, lambda signum, frame: relay.forward(signum))
    attempt = _Attempt(folder, job)
    status, exit_code, received = FAILED, 1, None
    server = _server_store(job)
    recorder: Recorder | None = None
    try:
        capture = _capture(job)
        recorder = _recorder(job, run_id, run_dir, server, capture)
        outcome = _perform(job, run_id, run_dir, attempt.restart, relay, recorder, capture, log)
        if outcome is None:
            received, status, exit_code = relay.received, KILLED, 128 + (relay.received or 2)
        else:
            received = outcome.signal or outcome.child_signal
            exit_code = outcome.exit_code
            status = outcome.status(recorder.child_status())
    except BaseException as exc:
        if relay.received is not None:
            received, status, exit_code = relay.received, KILLED, 128 + relay.received
        print(f"mlrun: {exc}", file=sys.stderr, flush=True)
        if not isinstance(exc, Exception):
            raise
    finally:
        relay.restore()
        _end(recorder, server, run_id, run_dir, status, exit_code)
        attempt.end(status, exit_code, received)
    return exit_code


def _capture(job: Mapping[str, Any]) -> MetricCapture | None:
    if not job.get("capture"):
        return None
    from mlrun_cli.run.capture import MetricCapture

    return MetricCapture(job.get("capture_pattern"))


def _recorder(
    job: Mapping[str, Any],
    run_id: str,
    run_dir: Path,
    server: Store | None,
    capture: MetricCapture | None,
) -> Recorder:
    if server is not None:
        server.set_status(run_id, RUNNING)
        server.log_batch(run_id, tags={T.JOB_NODE: os.uname().nodename})
        return StoreRecorder(
            server,
            run_id,
            str(job["experiment_id"]),
            str(job.get("user") or ""),
            Path(job["project_dir"]),
            capture,
            endpoint=False,
            run_dir=run_dir,
        )
    scratch = None
    if job.get("mlflow_endpoint", True):
        from mlrun_cli.store.endpoint.scratch import open_scratch

        scratch = open_scratch(job, run_dir)
    return FolderRecorder(run_dir / EVENTS_FILE, capture, scratch)


def _perform(
    job: Mapping[str, Any],
    run_id: str,
    run_dir: Path,
    restart: int,
    relay: SignalRelay,
    recorder: Recorder,
    capture: MetricCapture | None,
    log: Path | None = None,
) -> Outcome | None:
    """Prepare and launch; the Outcome, or None when a signal came before the command."""
    from mlrun_cli.project.mlproject import load_project

    project = load_project(Path(job["project_dir"]))
    frozen = Path(job["frozen"]) if job.get("frozen") else None
    env = prepare_environment(project, job["env_manager"], frozen=frozen, signals=relay)
    if job.get("env_build") == "node":
        # The environment built on the node is part of the run's provenance too.
        recorder.record_env(env)
    checkpoints = run_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    child_env = child_environment(
        os.environ,
        run_id=run_id,
        experiment_id=job["experiment_id"],
        tracking_uri=job["tracking_uri"],
        run_dir=run_dir,
        artifact_dir=run_dir / "artifacts",
        env=env,
    )
    child_env["MLRUN_RESTART_COUNT"] = str(restart)
    child_env["MLRUN_CHECKPOINT_DIR"] = str(checkpoints)
    if relay.received is not None:
        return None
    return launch(
        job["command"],
        cwd=project.dir,
        env=child_env,
        log_path=log or Path(os.devnull),  # our stdout is the log already
        relay=relay,
        recorder=recorder,
        capture=capture,
    )


def _server_store(job: Mapping[str, Any]) -> Store | None:
    """The MLflow server the run records into, or None for the embedded store (which the node
    never opens: `open_store` only makes the object)."""
    from mlrun_cli.store import open_store

    store = open_store(str(job["tracking_uri"]))
    return store if store.server() is not None else None


def _end(
    recorder: Recorder | None,
    server: Store | None,
    run_id: str,
    run_dir: Path,
    status: str,
    exit_code: int,
) -> None:
    if server is None:
        if recorder is not None:
            recorder.tick()
            for warning in recorder.close(status):
                print(f"mlrun: {warning}", file=sys.stderr, flush=True)
        return
    try:
        if recorder is not None:
            recorder.tick()
        remote = server.server()
        if remote is not None:
            remote.upload_artifacts(run_id, keep=(OUTPUT_LOG,), root=run_dir / "artifacts")
        server.set_terminated(run_id, status, int(time.time() * 1000), exit_code)
    except Exception as exc:  # the run folder still records the end
        print(f"mlrun: could not record the end on the server: {exc}", file=sys.stderr)
