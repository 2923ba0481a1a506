"""Slurm's job state words, and what each means in the common words (`JobStatus`)."""

from __future__ import annotations

from mlrun_cli.backends import JobStatus

PENDING_STATES = frozenset(
    {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED"}
)
RUNNING_STATES = frozenset(
    {"RUNNING", "CONFIGURING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING"}
)
FAILED_STATES = frozenset(
    {"FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "TIMEOUT", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT"}
)


def normalize(state: str) -> JobStatus:
    """`state` (squeue's or sacct's word) in the common words."""
    if state in PENDING_STATES or state == "PREEMPTED":
        return JobStatus.PENDING  # a preempted job is requeued or ends as CANCELLED later
    if state in RUNNING_STATES:
        return JobStatus.RUNNING
    if state == "COMPLETED":
        return JobStatus.COMPLETED
    if state == "FAILED":
        return JobStatus.FAILED
    if state in FAILED_STATES:
        return JobStatus.ENDED
    if state == "CANCELLED":
        return JobStatus.CANCELLED
    return JobStatus.UNKNOWN
