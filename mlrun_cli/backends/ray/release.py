"""On the node, after a sweep trial's command ended: submit the next queued trials.

    python -m mlrun_cli.backends.ray.release QUEUE JOB_ID [--address URL] [--timeout S]

Run by the trial's own entrypoint (see `RayBackend.entrypoint`), so a detached sweep keeps to
-j and keeps going with nobody polling. `--address` is the submitter's Jobs API, tried
first; inside a Ray job the cluster's own (RAY_ADDRESS) is tried next. A failure is one line in the trial's log: the next poll releases them instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlrun_cli.backends import BackendError
from mlrun_cli.backends.ray import queue as q
from mlrun_cli.backends.ray.client import Jobs, JobsClient
from mlrun_cli.backends.ray.config import DEFAULT_TIMEOUT_S


def _listed(address: str | None, timeout: float) -> tuple[Jobs, dict[str, Any]]:
    """A Jobs API client that answers, and its listing of the jobs: the submitter's address
    first (the one the sweep was submitted through), then the cluster's own, inside a job
    (RAY_ADDRESS there names the cluster, which the SDK may resolve to a dashboard address
    this node cannot use)."""
    for where in (address, None) if address else (None,):
        try:
            client: Jobs = JobsClient(where, timeout)
            return client, {j.submission_id: j for j in client.list()}
        except BackendError as exc:
            failed = exc
    raise failed


def release_after(
    path: Path, job_id: str, address: str | None, timeout: float = DEFAULT_TIMEOUT_S
) -> list[str]:
    """Release what `job_id`'s end makes room for; the ids submitted."""
    if not path.exists():
        return []
    with q.locked(path) as doc:
        if doc is None:
            return []
        listed_at = time.time()
        client, listing = _listed(address, timeout)
        return q.release(doc, path.parent.parent, listing, listed_at, client, os.environ, job_id)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlrun-ray-release")
    parser.add_argument("queue", type=Path)
    parser.add_argument("job_id")
    parser.add_argument("--address")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    args = parser.parse_args(argv)
    try:
        release_after(args.queue, args.job_id, args.address, args.timeout)
    except BackendError as exc:
        print(f"mlrun: the next trials wait for a poll: {exc}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
