"""A sweep's trials held back by mlrun, so at most -j of them are in the Ray cluster at once.

Ray has no job arrays and no throttle: a job submitted is a job started as soon as its
resources are free. So an array `JobSpec` becomes one queue file on the shared filesystem
(``<stage_dir>/.ray-queues/<group>.json``) listing one entry per trial; the first `J` are
submitted at once and each later one is submitted ("released") when an earlier one has ended.
Releases happen in two places, both under the queue's lock:

- on the node, when a trial's job ends: its entrypoint runs `release` after `mlrun _exec`,
  so a detached sweep keeps going with nobody watching;
- on the submitting side, in every poll (attached, `runs status`, `logs --follow`), which
  catches up after cancels, crashes, or nodes without the Ray client.

A queue keeps credentials by name only: their values are read when a trial is released.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mlrun_cli.backends import BackendError
from mlrun_cli.backends.ray.client import Jobs, RayJob
from mlrun_cli.backends.ray.states import is_active

QUEUE_DIR = ".ray-queues"
QUEUED, SUBMITTED, CANCELLED = "queued", "submitted", "cancelled"
# A job submitted this long before a listing is visible in it; one missing then is gone.
_VISIBLE_S = 30.0
_PARALLEL_SUBMITS = 8


def queue_path(stage_root: Path, group: str) -> Path:
    return stage_root / QUEUE_DIR / f"{group}.json"


def group_of(job_id: str) -> str | None:
    """The queue group of a trial's job id (``<group>_<task>``), None for a single job."""
    group, sep, task = job_id.rpartition("_")
    return group if sep and task.isdigit() else None


def write(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[dict[str, Any] | None]:
    """The queue at `path` (None if there is none), written back when the block ends."""
    if not path.exists():
        yield None
        return
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        doc = read(path)
        before = json.dumps(doc)
        try:
            yield doc
        finally:  # also when a release failed half-way: what Ray accepted is recorded
            if doc is not None and json.dumps(doc) != before:
                write(path, doc)


def _active(entry: Mapping[str, Any], jobs: Mapping[str, RayJob], listed_at: float) -> bool:
    job = jobs.get(entry["id"])
    if job is not None:
        return is_active(job.status)
    # Not in the listing: submitted after it (by another process), or gone for good.
    return float(entry.get("at") or 0) >= listed_at - _VISIBLE_S


def _after_done(doc: Mapping[str, Any], root: Path, jobs: Mapping[str, RayJob], at: float) -> bool:
    """A chained queue starts only when the one before it has no trial queued or active."""
    if not doc.get("after"):
        return True
    before = read(queue_path(root, str(doc["after"])))
    if before is None:
        return True
    entries = before.get("entries", [])
    return not any(
        e["state"] == QUEUED or (e["state"] == SUBMITTED and _active(e, jobs, at)) for e in entries
    )


def release(
    doc: dict[str, Any],
    root: Path,
    listed: Mapping[str, RayJob],
    listed_at: float,
    client: Jobs,
    environ: Mapping[str, str],
    exclude: str | None = None,
) -> list[str]:
    """Submit queued entries while fewer than the queue's concurrency are active; their ids.

    `listed` is a `list_jobs` answer taken at `listed_at`; `exclude` is the job doing the
    release on the node (still RUNNING in Ray while it runs this).
    """
    entries = doc.get("entries", [])
    for e in entries:
        # Accepted by Ray, but whoever submitted it died before writing that down (a
        # submitter killed mid-batch): it is submitted, never submitted twice.
        if e["state"] == QUEUED and e["id"] in listed:
            e["state"], e["at"] = SUBMITTED, listed_at
    queued = [e for e in entries if e["state"] == QUEUED]
    if not queued or not _after_done(doc, root, listed, listed_at):
        return []
    active = sum(
        1
        for e in entries
        if e["state"] == SUBMITTED and e["id"] != exclude and _active(e, listed, listed_at)
    )
    free = int(doc["concurrency"]) - active
    if free <= 0:
        return []
    env = dict(doc.get("env") or {})
    missing = [n for n in doc.get("names") or [] if n not in environ]
    if missing:
        raise BackendError(
            f"{len(queued)} queued trial(s) of {doc['group']} need {missing[0]}, which is not "
            "set in this environment; set it so they can be submitted"
        )
    env.update({n: environ[n] for n in doc.get("names") or []})

    def submit(entry: dict[str, Any]) -> None:
        client.submit(
            entry["id"],
            entry["entrypoint"],
            runtime_env={"env_vars": env},
            metadata={**doc.get("metadata", {}), "mlrun_task": str(entry["task"])},
            **doc.get("resources", {}),
        )
        entry["state"], entry["at"] = SUBMITTED, time.time()

    batch = queued[:free]
    if len(batch) == 1:
        submit(batch[0])
    else:
        # One HTTP round trip (two: the SDK checks the version first) per job; a few at
        # once. An entry is marked submitted only once Ray has accepted it.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(_PARALLEL_SUBMITS, len(batch))) as pool:
            errors = [f.exception() for f in [pool.submit(submit, e) for e in batch]]
        if failed := next((e for e in errors if e is not None), None):
            raise failed
    return [e["id"] for e in batch if e["state"] == SUBMITTED]


def cancel(doc: dict[str, Any], ids: set[str]) -> set[str]:
    """Mark the queued entries among `ids` cancelled (they are never submitted); the ids of
    the entries that are (or may be) in Ray, which need a stop."""
    in_ray = set()
    for entry in doc.get("entries", []):
        if entry["id"] not in ids:
            continue
        if entry["state"] == QUEUED:
            entry["state"] = CANCELLED
        elif entry["state"] == SUBMITTED:
            in_ray.add(entry["id"])
    return in_ray


def held(doc: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Entries not handed to Ray yet, by job id."""
    return {e["id"]: e for e in doc.get("entries", []) if e["state"] == QUEUED}


def recent(doc: Mapping[str, Any], listed_at: float) -> dict[str, Mapping[str, Any]]:
    """Entries submitted too recently to be in a listing taken at `listed_at`."""
    return {
        e["id"]: e
        for e in doc.get("entries", [])
        if e["state"] == SUBMITTED and float(e.get("at") or 0) >= listed_at - _VISIBLE_S
    }
