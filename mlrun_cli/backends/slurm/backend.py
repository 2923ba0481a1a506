"""Slurm: jobs are `sbatch` batch scripts, state is one `squeue --state=all` call per poll.

`sacct` is never needed: the run folder carries the exit code (see `mlrun_cli.cluster`), and
`squeue --state=all` still reports a finished job's state for the cluster's `MinJobAge`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrun_cli.backends import BackendError, JobSpec, JobState, NodeJob, Submitted
from mlrun_cli.backends import stage_root as backend_stage_root
from mlrun_cli.backends.slurm import config as cfg
from mlrun_cli.backends.slurm.states import normalize

DEFAULT_POLL_S = 2.0

# squeue fields, in order; one line per job or array task (-r).
_FIELDS = (
    "JobID",
    "ArrayJobID",
    "ArrayTaskID",
    "State",
    "Reason",
    "RestartCnt",
    "SubmitTime",
    "StartTime",
    "EndTime",
    "Name",
)
_SEP = "\x1f"


def _clock(text: str) -> float | None:
    if not text or text in ("N/A", "Unknown", "None", "NONE"):
        return None
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


class SlurmBackend:
    name = "slurm"

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = dict(config)

    # -- what the cluster side of a run needs ------------------------------------------------

    @property
    def poll_interval(self) -> float:
        return float(self.config.get("poll_interval") or DEFAULT_POLL_S)

    def check_ready(self) -> None:
        cfg.check_ready(self.config)

    def stage_root(self) -> Path:
        return backend_stage_root(self.config)

    def node_command(self) -> list[str]:
        return cfg.node_command(self.config)

    def export(self) -> list[str]:
        return list(self.config.get("export") or [])

    def node_job(self, environ: Mapping[str, str]) -> NodeJob:
        array = environ.get("SLURM_ARRAY_JOB_ID")
        task = environ.get("SLURM_ARRAY_TASK_ID")
        job_id = f"{array}_{task}" if array and task else environ.get("SLURM_JOB_ID")
        return NodeJob(job_id, int(environ.get("SLURM_RESTART_COUNT") or 0))

    def describe(self) -> str:
        asks = " ".join(f"{k}={self.config[k]}" for k in cfg.SBATCH_OPTIONS if k in self.config)
        return (
            "slurm through sbatch on this machine (the stage dir, env cache and run folders "
            f"are shared with the nodes); per job: {asks or 'the partition defaults'}"
        )

    def shares_folder(self) -> bool:
        return True  # a Slurm job always works on the shared filesystem

    def check_store(self, server: bool) -> None:
        """Either store works: the run folders are shared, an MLflow server is reached."""

    def job_output(self, job_id: str) -> bytes | None:
        return None  # --output writes into the run folder

    # -- submit ------------------------------------------------------------------------------

    def script(self, job: JobSpec) -> str:
        c = self.config
        lines = ["#!/bin/bash", f"#SBATCH --job-name={job.name}"]
        if job.indices:
            lines.append(f"#SBATCH --output={job.log}/%a.log")
            lines.append(f"#SBATCH --array={array_spec(job.indices, job.concurrency)}")
        else:
            lines.append(f"#SBATCH --output={job.log}")
        lines.append("#SBATCH --open-mode=append")
        lines.append(f"#SBATCH --chdir={job.workdir}")
        names = [v for v in cfg.BASE_EXPORT if v in os.environ]
        names += sorted(v for v in os.environ if v.startswith("MLRUN_") and v not in names)
        names += [v for v in job.export if v not in names]
        lines.append(f"#SBATCH --export={','.join(names)}")
        lines.append("#SBATCH --requeue" if c.get("requeue") else "#SBATCH --no-requeue")
        if c.get("signal"):
            sig = str(c["signal"])
            lines.append(f"#SBATCH --signal={sig if sig.startswith('B:') else 'B:' + sig}")
        if job.after:
            lines.append(f"#SBATCH --dependency=afterany:{job.after}")
        for key, option in cfg.SBATCH_OPTIONS.items():
            if c.get(key) is not None:
                lines.append(f"#SBATCH {option}={c[key]}")
        lines += [f"#SBATCH {opt}" for opt in c.get("extra") or []]
        lines += ["", "# Written by mlrun. Output is unbuffered so the log follows the run live."]
        lines.append("export PYTHONUNBUFFERED=1")
        for i, line in enumerate(c.get("setup") or [], 1):
            reason = shlex.quote(f"mlrun: setup line {i} failed ({line})")
            lines.append(f'{line} || {{ rc=$?; echo {reason} >&2; exit "$rc"; }}')
        argv = " ".join(
            a.replace("{index}", '"${SLURM_ARRAY_TASK_ID}"') if a == "{index}" else shlex.quote(a)
            for a in job.argv
        )
        lines += [
            "shopt -s execfail",
            f"exec {argv}",
            'rc=$?; echo "mlrun: cannot start mlrun on $(hostname): exit $rc; set python or mlrun '
            'in the backend config" >&2; exit "$rc"',
            "",
        ]
        return "\n".join(lines)

    def submit(self, job: JobSpec) -> Submitted:
        job.script.parent.mkdir(parents=True, exist_ok=True)
        job.script.write_text(self.script(job))
        result = _call(["sbatch", "--parsable", str(job.script)])
        if result.returncode != 0:
            why = (result.stderr or result.stdout).strip().splitlines()
            raise BackendError(
                f"sbatch refused the job: {why[-1] if why else 'exit ' + str(result.returncode)}"
                "; check the backend config"
            )
        job_id = result.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise BackendError(f"sbatch answered {result.stdout.strip()!r}, not a job id")
        tasks = {i: f"{job_id}_{i}" for i in job.indices}
        return Submitted(job_id, tasks)

    # -- poll --------------------------------------------------------------------------------

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """One `squeue --state=all -r` call for all of `job_ids` (array tasks as ARRAY_INDEX)."""
        if not job_ids:
            return {}
        wanted = sorted({j.split("_")[0] for j in job_ids}, key=int)
        fmt = ",".join(f"{f}:{_SEP}" for f in _FIELDS)
        result = _call(
            ["squeue", "--noheader", "--state=all", "-r", f"--jobs={','.join(wanted)}", "-O", fmt]
        )
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:
                return {}  # none of them is known any more
            raise BackendError(f"squeue failed: {result.stderr.strip() or result.returncode}")
        states: dict[str, JobState] = {}
        for line in result.stdout.splitlines():
            parts = [p.strip() for p in line.split(_SEP)]
            if len(parts) < len(_FIELDS):
                continue
            row = dict(zip(_FIELDS, parts, strict=False))
            task = row["ArrayTaskID"]
            key = f"{row['ArrayJobID']}_{task}" if task not in ("", "N/A") else row["JobID"]
            try:
                restarts = int(row["RestartCnt"])
            except ValueError:
                restarts = 0
            states[key] = JobState(
                job_id=key,
                state=(word := row["State"].split()[0].rstrip("+")),
                status=normalize(word),
                reason=row["Reason"] if row["Reason"] not in ("None", "(null)") else "",
                restarts=restarts,
                submit_time=_clock(row["SubmitTime"]),
                name=row["Name"],
                start_time=_clock(row["StartTime"]),
                end_time=_clock(row["EndTime"]),
            )
        return {j: states[j] for j in job_ids if j in states}

    def final(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The final state of jobs gone from the queue, from `sacct`, only where it works.

        Small clusters often run without accounting; then this is empty and the run folder
        alone decides.
        """
        if not job_ids or shutil.which("sacct") is None:
            return {}
        result = _call(
            ["sacct", "--noheader", "--parsable2", "-X", "-o", "JobID,State,ExitCode,JobName",
             "-j", ",".join(job_ids)]
        )  # fmt: skip
        if result.returncode != 0:
            return {}
        states = {}
        for line in result.stdout.splitlines():
            parts = line.split("|")
            if len(parts) < 4 or parts[0] not in job_ids:
                continue
            states[parts[0]] = JobState(
                job_id=parts[0],
                state=(word := parts[1].split()[0].rstrip("+")),
                status=normalize(word),
                reason=f"exit code {parts[2]}",
                name=parts[3],
            )
        return states

    # -- cancel ------------------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[str], *, signal: str | None = None) -> None:
        """One `scancel` for all ids; with `signal`, only the batch shell (mlrun) receives it."""
        if not job_ids:
            return
        argv = ["scancel"]
        if signal:
            argv += ["--batch", f"--signal={signal}"]
        result = _call([*argv, *job_ids])
        if result.returncode != 0 and "Invalid job id" not in result.stderr:
            raise BackendError(f"scancel failed: {result.stderr.strip() or result.returncode}")

    def log_path(self, run_dir: Path) -> Path:
        return run_dir / "artifacts" / "mlrun-output.log"


def array_spec(indices: Sequence[int], concurrency: int | None) -> str:
    """`0-3`, `1,4-6,9`: contiguous runs collapsed; `%N` for at most N at once."""
    parts: list[str] = []
    ordered = sorted(set(indices))
    start = prev = ordered[0]
    for i in [*ordered[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    spec = ",".join(parts)
    return f"{spec}%{concurrency}" if concurrency else spec


def _call(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise BackendError(f"{argv[0]} not found: {cfg.INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise BackendError(
            f"{argv[0]} did not answer in 120 s; is the Slurm controller reachable?"
        ) from None
