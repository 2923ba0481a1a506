"""Ray: jobs are Ray Jobs (`submit_job`), state is one `list_jobs` call per poll.

A job's entrypoint is a short shell script: its output goes to the run's log in the run
folder (the shared-filesystem contract), it enters the staged source, runs the `setup` lines
and execs `mlrun _exec`, which writes started.json, heartbeat and exit.json as on Slurm. Ray
has no arrays: a sweep is one job per trial, at most -j of them in the cluster at once (the
rest wait in a queue file: see `queue`).

With `mode: working_dir` nothing is shared: the job's runtime_env uploads the staged
snapshot with its job file, Ray keeps the output (`job_output`), and mlrun on the node
records into an MLflow server store.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlrun_cli.backends import BackendError, JobSpec, JobState, JobStatus, NodeJob, Submitted
from mlrun_cli.backends import stage_root as backend_stage_root
from mlrun_cli.backends.ray import config as cfg
from mlrun_cli.backends.ray import queue as q
from mlrun_cli.backends.ray.client import Jobs, RayJob, connect
from mlrun_cli.backends.ray.states import QUEUED, normalize

# Ray's own variable: how long stop_job waits after SIGTERM before SIGKILL (default 3 s).
STOP_WAIT_VAR = "RAY_JOB_STOP_WAIT_TIME_S"
# Ray's own variable in a job's environment: its runtime_env and metadata, as JSON.
JOB_CONFIG_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"
_STOP_MARGIN_S = 5  # after mlrun's own escalation on the node (MLRUN_KILL_GRACE)


def job_state(job: RayJob) -> JobState:
    """A `list_jobs` entry in the words of `JobState`."""
    reason = ""
    if job.status == "FAILED":
        reason = next((line for line in job.message.splitlines() if line.strip()), "")[:300]
    return JobState(
        job_id=job.submission_id,
        state=job.status,
        status=normalize(job.status),
        reason=reason,
        submit_time=job.start_time_ms / 1000 if job.start_time_ms else None,
        name=str((job.metadata or {}).get("mlrun_name", "")),
        end_time=job.end_time_ms / 1000 if job.end_time_ms else None,
    )


class RayBackend:
    name = "ray"

    def __init__(self, config: Mapping[str, Any], jobs: Jobs | None = None) -> None:
        self.config = dict(config)
        self._jobs = jobs  # tests hand in a fake; else connected on first use
        self._warned: set[str] = set()

    def jobs(self) -> Jobs:
        if self._jobs is None:
            self._jobs = connect(cfg.address(self.config), self._timeout())
        return self._jobs

    def _timeout(self) -> float:
        return float(self.config.get("timeout") or cfg.DEFAULT_TIMEOUT_S)

    # -- what the cluster side of a run needs ------------------------------------------------

    @property
    def poll_interval(self) -> float:
        return float(self.config.get("poll_interval") or cfg.DEFAULT_POLL_S)

    def check_ready(self) -> None:
        cfg.check_ready(self.config)
        self.jobs()  # the client is installed and the cluster answers

    def stage_root(self) -> Path:
        return backend_stage_root(self.config)

    def node_command(self) -> list[str]:
        return cfg.node_command(self.config)

    def export(self) -> list[str]:
        return list(self.config.get("export") or [])

    def node_job(self, environ: Mapping[str, str]) -> NodeJob:
        try:
            meta = json.loads(environ.get(JOB_CONFIG_VAR) or "{}").get("metadata") or {}
        except (ValueError, AttributeError):
            meta = {}
        return NodeJob(meta.get("job_submission_id"), 0)  # Ray never restarts a job

    def describe(self) -> str:
        """One line for `mlrun backend check`: where the jobs go and in which mode."""
        asks = cfg.entrypoint_resources(self.config)
        what = ", ".join(f"{k.removeprefix('entrypoint_')}={v}" for k, v in asks.items())
        if self.shares_folder():
            how = (
                "mode shared (a shared filesystem: the stage dir, env cache and run folders "
                "are the same paths on the nodes)"
            )
        else:
            how = (
                "mode working_dir (no shared filesystem: each job uploads its snapshot and job "
                "file, builds its environment on the node, and records into an MLflow server "
                "store)"
            )
        return f"ray at {cfg.address(self.config)}, {how}; per job: {what}"

    def shares_folder(self) -> bool:
        return cfg.mode(self.config) == cfg.SHARED

    def check_store(self, server: bool) -> None:
        cfg.check_store(self.config, server)

    def job_output(self, job_id: str) -> bytes | None:
        """Ray keeps what the job printed: with mode: working_dir it is the run's log."""
        if self.shares_folder():
            return None
        return self.jobs().logs(job_id).encode("utf-8", "replace")

    # -- submit ------------------------------------------------------------------------------

    def entrypoint(self, job: JobSpec, argv: Sequence[str], log: Path, after: str = "") -> str:
        """The job's shell script: `after` runs once the command has ended (a release)."""
        quote = shlex.quote
        if self.shares_folder():
            lines = [f"exec >>{quote(str(log))} 2>&1"]  # what follows writes the run's log
            where = quote(f"{job.workdir} (is stage_dir on a filesystem the Ray nodes share?)")
            lines.append(
                f'cd {quote(str(job.workdir))} || {{ echo "mlrun: cannot enter on '
                f'$(hostname):" {where}; exit 1; }}'
            )
        else:
            lines = ['work="$PWD"']  # Ray's copy of the uploaded working_dir; Ray keeps the log
        for i, line in enumerate(self.config.get("setup") or [], 1):
            reason = quote(f"mlrun: setup line {i} failed ({line})")
            lines.append(f'{line} || {{ rc=$?; echo {reason}; exit "$rc"; }}')
        if not self.shares_folder():
            lines.append('cd "$work" || exit 1')  # the job file is named relative to it
        hint = quote(f"{argv[0]} not found; set python or mlrun in the backend config")
        lines.append(
            f"command -v {quote(argv[0])} >/dev/null 2>&1 || "
            f'{{ echo "mlrun: cannot start mlrun on $(hostname):" {hint}; exit 127; }}'
        )
        command = " ".join(quote(a) for a in argv)
        if not after:
            lines.append(f"exec {command}")
        else:
            lines += [command, "rc=$?", f"{after} || true", 'exit "$rc"']
        return "\n".join(lines)

    def _environment(self, job: JobSpec) -> tuple[dict[str, str], list[str]]:
        from mlrun_cli.run.signals import grace_period

        shared = self.shares_folder()
        values, names = cfg.split_environment(list(job.export), os.environ, local_paths=shared)
        values[STOP_WAIT_VAR] = str(int(grace_period() + _STOP_MARGIN_S))
        return values, names

    def submit(self, job: JobSpec) -> Submitted:
        jobs = self.jobs()
        values, names = self._environment(job)
        group = f"{job.name}-{os.urandom(3).hex()}"
        asks = cfg.entrypoint_resources(self.config)
        if not job.indices:
            env = {**values, **{n: os.environ[n] for n in names if n in os.environ}}
            runtime_env: dict[str, Any] = {"env_vars": env}
            if not self.shares_folder():
                runtime_env["working_dir"] = str(job.workdir)  # zipped and uploaded by Ray
            jobs.submit(
                group,
                self.entrypoint(job, job.argv, job.log),
                runtime_env=runtime_env,
                metadata={"mlrun_name": job.name},
                **asks,
            )
            return Submitted(group)
        if not self.shares_folder():
            raise BackendError(
                "--backend-config mode: working_dir submits single runs only (a sweep records "
                "into the embedded store, on a filesystem the nodes share); use mode: shared"
            )
        path = q.queue_path(self.stage_root(), group)
        concurrency = min(
            job.concurrency or len(job.indices),
            int(self.config.get("max_concurrent_jobs") or sys.maxsize),
        )
        entries = []
        for i in job.indices:
            job_id = f"{group}_{i}"
            argv = [a.replace("{index}", str(i)) for a in job.argv]
            after = self._release_command(path, job_id)
            entries.append(
                {
                    "task": i,
                    "id": job_id,
                    "entrypoint": self.entrypoint(job, argv, job.log / f"{i}.log", after),
                    "state": q.QUEUED,
                    "at": None,
                }
            )
        doc = {
            "group": group,
            "name": job.name,
            "concurrency": concurrency,
            "after": job.after,
            "env": values,
            "names": names,
            "resources": asks,
            "metadata": {"mlrun_name": job.name, "mlrun_group": group},
            "entries": entries,
        }
        q.write(path, doc)
        listed_at = time.time()
        listing = {j.submission_id: j for j in jobs.list()} if job.after else {}
        with q.locked(path) as held:
            assert held is not None
            try:
                q.release(held, self.stage_root(), listing, listed_at, jobs, os.environ)
            except BackendError as exc:
                if not any(e["state"] == q.SUBMITTED for e in held["entries"]):
                    raise  # nothing reached Ray: the submission failed as a whole
                # Some trials are in Ray: the submission stands, the others stay queued and
                # the next release tries them again.
                self._warn(str(exc))
        return Submitted(group, {i: f"{group}_{i}" for i in job.indices})

    def _release_command(self, path: Path, job_id: str) -> str:
        """What a trial's job runs after its command: release the next queued trial. Skipped
        when only an `mlrun` executable is configured (its Python is unknown): polls release."""
        if self.config.get("mlrun") and not self.config.get("python"):
            return ""
        python = str(self.config.get("python") or sys.executable)
        argv = [python, "-m", "mlrun_cli.backends.ray.release", str(path), job_id]
        argv += ["--address", cfg.address(self.config), "--timeout", f"{self._timeout():g}"]
        return " ".join(shlex.quote(a) for a in argv)

    # -- poll --------------------------------------------------------------------------------

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """One `list_jobs` call for all of `job_ids`; queued trials are released on the way."""
        if not job_ids:
            return {}
        jobs = self.jobs()
        listed_at = time.time()
        listing = {j.submission_id: j for j in jobs.list()}
        states = {j: job_state(listing[j]) for j in job_ids if j in listing}
        groups: dict[str, list[str]] = {}
        for job_id in job_ids:
            if (group := q.group_of(job_id)) is not None:
                groups.setdefault(group, []).append(job_id)
        for group, ids in sorted(groups.items()):
            states.update(self._poll_queue(group, ids, listing, listed_at, states))
        return states

    def _poll_queue(
        self,
        group: str,
        ids: list[str],
        listing: Mapping[str, RayJob],
        listed_at: float,
        known: Mapping[str, JobState],
    ) -> dict[str, JobState]:
        path = q.queue_path(self.stage_root(), group)
        with q.locked(path) as doc:
            if doc is None:
                if all(j in known for j in ids):
                    return {}
                # Never read a missing queue as jobs gone: that would record them LOST.
                raise BackendError(
                    f"the queue of ray jobs {group} is not at {path}; poll with the backend "
                    "config (stage_dir) the sweep was submitted with"
                )
            try:
                q.release(doc, self.stage_root(), listing, listed_at, self.jobs(), os.environ)
            except BackendError as exc:
                self._warn(str(exc))
            waiting = {**q.held(doc), **q.recent(doc, listed_at)}
        return {
            j: JobState(j, QUEUED, status=JobStatus.PENDING, name=str(doc.get("name", "")))
            for j in ids
            if j not in known and j in waiting
        }

    def _warn(self, message: str) -> None:
        if message not in self._warned:  # once per problem, not once per poll
            self._warned.add(message)
            from mlrun_cli import console

            console.warn(message)

    def final(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """Ray keeps every job until it is deleted: one missing from `list_jobs` is gone."""
        return {}

    # -- cancel ------------------------------------------------------------------------------

    def cancel(self, job_ids: Sequence[str], *, signal: str | None = None) -> None:
        """Queued trials are dropped from their queue; the others get `stop_job`, which sends
        SIGTERM to the job's processes (mlrun on the node ends the command gently) and SIGKILL
        after RAY_JOB_STOP_WAIT_TIME_S. Ray cannot send another signal: `signal` only says
        this is the gentle step."""
        if not job_ids:
            return
        stop = {j for j in job_ids if q.group_of(j) is None}
        groups: dict[str, set[str]] = {}
        for job_id in job_ids:
            if (group := q.group_of(job_id)) is not None:
                groups.setdefault(group, set()).add(job_id)
        for group, ids in groups.items():
            with q.locked(q.queue_path(self.stage_root(), group)) as doc:
                stop |= ids if doc is None else q.cancel(doc, ids)
        jobs = self.jobs()
        for job_id in sorted(stop):
            jobs.stop(job_id)

    def log_path(self, run_dir: Path) -> Path:
        return run_dir / "artifacts" / "mlrun-output.log"
