"""Where an entry point's command executes: one Backend protocol for every place a run can go.

A backend knows four things: how to submit a job (one command, or one command per index of
an array), how to ask for the state of many jobs in one call, how to cancel many jobs in one
call, and where a run's output log is. Everything else (provenance, environments, the run's
record) is the same for all backends and lives outside them: a job executes
``mlrun _exec``, which performs the run exactly as a local run does and writes its status
into the run folder (see `mlrun_cli.cluster.contract`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlrun_cli.errors import MlrunError

BACKENDS = ("local", "slurm")


class BackendError(MlrunError):
    """A backend is missing, misconfigured, or refused a job."""


@dataclass(frozen=True)
class JobSpec:
    """One job: a command run in `workdir`, once or once per array index."""

    name: str
    argv: Sequence[str]  # the command; for an array, "{index}" is replaced by the task's index
    workdir: Path
    log: Path  # where the job's output goes; for an array, a folder of <index>.log files
    script: Path  # where the backend may write its job script
    indices: Sequence[int] = ()  # an array job when not empty
    concurrency: int | None = None  # at most this many indices at once
    after: str | None = None  # start only after this job ended
    export: Sequence[str] = ()  # environment variables passed by name


@dataclass(frozen=True)
class JobState:
    """The scheduler's view of one job (or one array task)."""

    job_id: str
    state: str  # the scheduler's own word: PENDING, RUNNING, COMPLETED, FAILED, ...
    reason: str = ""
    restarts: int = 0
    submit_time: float | None = None  # epoch seconds
    name: str = ""
    start_time: float | None = None
    end_time: float | None = None


@dataclass(frozen=True)
class Submitted:
    job_id: str  # for an array: the array job's id; task ids are f"{job_id}_{index}"
    task_ids: Mapping[int, str] = field(default_factory=dict)  # index -> job id of the task


class Backend(Protocol):
    name: str

    def submit(self, job: JobSpec) -> Submitted:
        """Queue `job`; return its id(s) once the scheduler has accepted it."""
        ...

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The state of every job in `job_ids` the scheduler still knows, in one call."""
        ...

    def cancel(self, job_ids: Sequence[str], *, signal: str | None = None) -> None:
        """End every job in `job_ids` in one call, or send them `signal` (INT, TERM, ...)."""
        ...

    def log_path(self, run_dir: Path) -> Path:
        """Where the output of the run in `run_dir` is written while it runs."""
        ...


def get_backend(name: str, config: Mapping[str, Any] | None = None) -> Backend:
    """The backend called `name`, configured with `config`; unknown names list the known ones."""
    if name == "slurm":
        from mlrun_cli.backends.slurm.backend import SlurmBackend

        return SlurmBackend(config or {})
    if name == "local":
        from mlrun_cli.backends.local import LocalBackend

        return LocalBackend()
    raise BackendError(f"no backend {name!r}; the available backends are: {', '.join(BACKENDS)}")
