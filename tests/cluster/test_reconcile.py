"""The status rules of submitted runs: the run folder first, the scheduler fills the gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.backends import JobState
from mlrun_cli.backends.slurm.states import normalize
from mlrun_cli.cluster.reconcile import decide, ours
from mlrun_cli.store.base import Run


def _run(**tags: str) -> Run:
    base = {"mlrun.job.id": "7", "mlrun.job.name": "mlrun-x", **tags}
    return Run("r", "0", "x", "RUNNING", 0, tags=base)


def _legacy_run(**tags: str) -> Run:
    """A run submitted by an earlier version: its job tags are under mlrun.slurm.*."""
    base = {"mlrun.slurm.job_id": "7", "mlrun.slurm.job_name": "mlrun-x", **tags}
    return Run("r", "0", "x", "RUNNING", 0, tags=base)


def _state(state: str, **kw: object) -> JobState:
    return JobState("7", state, name="mlrun-x", status=normalize(state), **kw)  # type: ignore[arg-type]


def _exit(status: str, code: int, sig: int | None = None, restart: int = 0) -> dict[str, object]:
    return {"status": status, "exit_code": code, "signal": sig, "restart": restart, "end_ms": 5}


@pytest.mark.parametrize(
    ("state", "ended", "want", "reason"),
    [
        ("COMPLETED", None, "FINISHED", None),
        ("COMPLETED", _exit("FINISHED", 0), "FINISHED", None),
        ("FAILED", _exit("FAILED", 3), "FAILED", None),
        ("TIMEOUT", _exit("KILLED", 143, 15), "FAILED", "TIMEOUT"),
        ("TIMEOUT", None, "FAILED", "TIMEOUT"),
        ("OUT_OF_MEMORY", None, "FAILED", "OUT_OF_MEMORY"),
        ("NODE_FAIL", None, "FAILED", "NODE_FAIL"),
        ("CANCELLED", None, "KILLED", "CANCELLED"),
        ("CANCELLED", _exit("KILLED", 143, 15), "KILLED", "CANCELLED"),
        ("RUNNING", _exit("FINISHED", 0), "FINISHED", None),  # the file is ahead of squeue
        ("RUNNING", _exit("KILLED", 143, 15), None, None),  # maybe a requeue: wait
        ("PENDING", _exit("KILLED", 143, 15), None, None),  # requeued: not the end
        ("RUNNING", None, None, None),
        (None, _exit("FAILED", 2), "FAILED", None),
    ],
)
def test_status_rules(
    tmp_path: Path, state: str | None, ended: dict[str, object] | None, want: str | None,
    reason: str | None,
) -> None:  # fmt: skip
    js = _state(state) if state else None
    got = decide(_run(), js, None, ended, 0, tmp_path)
    if want is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == want
    assert got[3].get("mlrun.job.reason") == reason


def test_gone_without_exit_code_is_lost_not_finished(tmp_path: Path) -> None:
    got = decide(_run(), None, None, None, 0, tmp_path)
    assert got is not None and got[0] == "KILLED" and got[3]["mlrun.lost"] == "true"
    (tmp_path / "cancelled.json").write_text("{}")
    got = decide(_run(), None, None, None, 0, tmp_path)
    assert got is not None and got[0] == "KILLED" and "mlrun.lost" not in got[3]


def test_exit_code_of_an_earlier_attempt_does_not_count(tmp_path: Path) -> None:
    # Attempt 0 was signalled by a requeue; the job now runs again (restart 1).
    got = decide(_run(), _state("RUNNING", restarts=1), None, _exit("KILLED", 143, 15), 1, tmp_path)
    assert got is None


def test_reused_job_id_is_notours() -> None:
    run = _run(**{"mlrun.job.submit_time": str(10_000)})
    assert ours(run, _state("RUNNING", submit_time=10_000.0)) is not None
    assert ours(run, _state("RUNNING", submit_time=10_500.0)) is not None  # requeued later
    assert ours(run, _state("RUNNING", submit_time=1_000.0)) is None  # an older job
    other = JobState("7", "RUNNING", name="someone-else", submit_time=10_000.0)
    assert ours(run, other) is None


def test_runs_recorded_with_the_old_slurm_tags_are_still_read() -> None:
    run = _legacy_run(**{"mlrun.slurm.submit_time": str(10_000)})
    assert ours(run, _state("RUNNING", submit_time=10_000.0)) is not None
    assert ours(run, _state("RUNNING", submit_time=1_000.0)) is None
    assert ours(run, JobState("7", "RUNNING", name="someone-else")) is None


def test_a_lost_job_names_its_backend_and_id(tmp_path: Path) -> None:
    got = decide(_run(**{"mlflow.project.backend": "slurm"}), None, None, None, 0, tmp_path)
    assert got is not None
    assert got[3]["mlrun.lost.reason"] == (
        "slurm job 7 left the queue without writing an exit code"
    )
