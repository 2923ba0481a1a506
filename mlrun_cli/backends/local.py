"""Jobs as process groups on this machine: the Backend protocol for a local sweep's trials."""

from __future__ import annotations

import contextlib
import os
import signal as signals
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from mlrun_cli.backends import JobSpec, JobState, JobStatus, Submitted
from mlrun_cli.process import alive


class LocalBackend:
    """Jobs as process groups on this machine: the `Backend` protocol for local runs and trials.

    A job is a process in its own session; its id is its pid. The process itself (an `mlrun`
    command) handles the signal it is sent: it forwards it to its command's group and escalates.
    """

    name = "local"

    def __init__(self, stdout: IO[Any] | int | None = None) -> None:
        self.stdout = stdout  # where jobs' output goes; None: this process's
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, job: JobSpec) -> Submitted:
        indices: list[int | None] = [*job.indices] or [None]
        ids: dict[int, str] = {}
        for index in indices:
            argv = [a.replace("{index}", str(index)) for a in job.argv]
            proc = subprocess.Popen(
                argv,
                cwd=job.workdir,
                stdout=self.stdout,
                stderr=self.stdout,
                start_new_session=True,
            )
            self.procs[str(proc.pid)] = proc
            if index is not None:
                ids[index] = str(proc.pid)
        first = next(iter(ids.values()), None) or str(proc.pid)
        return Submitted(first, ids)

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        states = {}
        for job_id in job_ids:
            proc = self.procs.get(job_id)
            if proc is None:
                if alive(int(job_id), group=False):
                    states[job_id] = JobState(job_id, "RUNNING", status=JobStatus.RUNNING)
                continue
            code = proc.poll()
            if code is None:
                states[job_id] = JobState(job_id, "RUNNING", status=JobStatus.RUNNING)
            else:
                status = (
                    JobStatus.COMPLETED
                    if code == 0
                    else (JobStatus.CANCELLED if code < 0 else JobStatus.FAILED)
                )
                states[job_id] = JobState(
                    job_id, status.value, reason=f"exit code {code}", status=status
                )
        return states

    def cancel(self, job_ids: Sequence[str], *, signal: str | None = None) -> None:
        sig = signals.Signals[f"SIG{signal}"] if signal else signals.SIGTERM
        for job_id in job_ids:
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(job_id), sig)

    def log_path(self, run_dir: Path) -> Path:
        return run_dir / "artifacts" / "mlrun-output.log"

    def forget(self, job_id: str) -> int | None:
        """Stop tracking a job that has ended; its exit code."""
        proc = self.procs.pop(job_id, None)
        return None if proc is None else proc.wait()
