"""The files of the run-folder contract, and how they are written (atomically) and read.

- ``job/job.json``: what the node needs to perform the run (it never reads the store),
- ``job/started.json``: host, pid, start time and restart count of each attempt,
- ``job/heartbeat``: touched while the command runs,
- ``job/exit.json``: exit code, status and the signal that ended it, written before it exits,
- ``job/cancelled.json``: we cancelled it (a job gone from the queue is then KILLED, not LOST),
- ``job/ingested.json``: how far the submitting side has read the events file,
- ``events.jsonl`` and ``artifacts/mlrun-output.log``: what a local run writes too.

A job whose node shares no folder with us (``"shared_folder": false`` in its job.json) takes
a copy of job.json with it, beside the snapshot (``src/``), and records into an MLflow server
store instead of these files: only job.json and cancelled.json are written here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrun_cli.backends import BackendError
from mlrun_cli.paths import EVENTS_FILE, OUTPUT_LOG
from mlrun_cli.store.base import Store

__all__ = ["EVENTS_FILE", "OUTPUT_LOG"]

JOB_DIR = "job"
JOB_FILE = "job.json"
STARTED_FILE = "started.json"
HEARTBEAT_FILE = "heartbeat"
EXIT_FILE = "exit.json"
CANCELLED_FILE = "cancelled.json"
INGESTED_FILE = "ingested.json"
TRIALS_FILE = "trials.json"  # a submitted sweep's array index -> trial run id
BACKEND_FILE = "backend.json"  # a submitted sweep's backend config, for resume
SHARED_KEY = "shared_folder"  # in job.json: False when the node shares no folder with us
UPLOADED_SOURCE = "src"  # the snapshot, beside job.json, in an uploaded job's folder


def shares_folder(job: Mapping[str, Any]) -> bool:
    """Whether the job's node writes the run-folder files (job.json's word; True before it
    was written)."""
    return job.get(SHARED_KEY) is not False


def job_dir(store: Store, run_id: str) -> Path:
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


def write_job_file(store: Store, **fields: Any) -> None:
    """What the node needs to perform the run, so it never reads the store."""
    write_json(job_dir(store, fields["run_id"]) / JOB_FILE, fields)


def output_log(store: Store, run_id: str) -> Path:
    """The run's output log, created now: it exists from the moment the job is submitted."""
    log = Path(store.artifact_dir(run_id)) / OUTPUT_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    return log


def forget_attempt(store: Store, run_id: str) -> None:
    """A run submitted again starts clean: the last attempt's files would be read as this
    one's (an old exit.json is a clean exit, final as soon as the new job runs). The events
    file and its ingested offset stay: what was recorded stays recorded."""
    folder = job_dir(store, run_id)
    for name in (EXIT_FILE, STARTED_FILE, HEARTBEAT_FILE, CANCELLED_FILE):
        (folder / name).unlink(missing_ok=True)


def mark_cancelled(store: Store, run_ids: Sequence[str]) -> None:
    """Remember that we cancelled these, so a job gone from the queue reads KILLED, not LOST."""
    for rid in run_ids:
        write_json(job_dir(store, rid) / CANCELLED_FILE, {"time_ms": int(time.time() * 1000)})


def read_trials(sweep_job: Path) -> dict[str, str]:
    """A submitted sweep's array index -> trial run id."""
    return {str(k): str(v) for k, v in (read_json(sweep_job / TRIALS_FILE) or {}).items()}


def sweep_trial(store: Store, sweep_id: str, index: int) -> str:
    """The run id of trial `index` of a submitted sweep (from the sweep's job folder)."""
    try:
        return read_trials(job_dir(store, sweep_id))[str(index)]
    except KeyError:
        raise BackendError(f"sweep {sweep_id[:8]} has no trial {index}") from None
