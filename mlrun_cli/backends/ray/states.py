"""Ray's job status words, and what each means in the common words (`JobStatus`)."""

from __future__ import annotations

from mlrun_cli.backends import JobStatus

# QUEUED is ours: a sweep's trial mlrun holds back until fewer than -j of the sweep's trials
# are in the cluster (Ray has no job arrays and no throttle of its own).
QUEUED = "QUEUED"

_COMMON = {
    "PENDING": JobStatus.PENDING,  # waiting for resources, or its runtime_env is being set up
    QUEUED: JobStatus.PENDING,
    "RUNNING": JobStatus.RUNNING,
    "SUCCEEDED": JobStatus.COMPLETED,
    "FAILED": JobStatus.FAILED,  # the entrypoint exited non-zero, or could not start
    "STOPPED": JobStatus.CANCELLED,  # stop_job: ours or anyone's
}


def normalize(state: str) -> JobStatus:
    """`state` (a Ray JobStatus value) in the common words."""
    return _COMMON.get(state, JobStatus.UNKNOWN)


def is_active(state: str) -> bool:
    return normalize(state) in (JobStatus.PENDING, JobStatus.RUNNING)
