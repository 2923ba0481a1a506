"""Submit a run to a cluster backend, then wait for it or leave it (--detach).

The submitting machine performs a local run's plan and record steps (source, project,
parameters, provenance, the run record) and, unless the node builds it, the environment;
it stages an exact snapshot of the source where the nodes can read it, writes the job file and
hands the backend one ``mlrun _exec`` command.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.backends import BackendError, ClusterBackend, JobSpec
from mlrun_cli.cluster.files import (
    JOB_FILE,
    OUTPUT_LOG,
    SHARED_KEY,
    UPLOADED_SOURCE,
    job_dir,
    output_log,
    write_job_file,
    write_json,
)
from mlrun_cli.cluster.follow import JobLog, wait
from mlrun_cli.errors import Interrupted
from mlrun_cli.run.launch import prepare_environment
from mlrun_cli.run.provenance import Record, create_record, env_tags, record_source
from mlrun_cli.run.request import Plan, RunRequest, plan
from mlrun_cli.run.signals import Signals
from mlrun_cli.store import open_store, resolve_tracking_uri
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, SCHEDULED, Store

DEFAULT_ARRAY_MAX = 1000
_SKIP = {".git", ".mlrun", "mlruns", "__pycache__", ".venv", ".tox", ".nox"}


def cluster_store(tracking_uri: str | None) -> Store:
    """The store a submitted run records into: the embedded one, or an MLflow server."""
    return open_store(resolve_tracking_uri(tracking_uri))


def stage(source_dir: Path, git_root: Path | None, dest: Path) -> Path:
    """Copy the project as it is now (commit + uncommitted changes + untracked, unignored
    files) to `dest`, where the nodes can read it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if git_root is not None:
        from mlrun_cli.sources.git import git

        listed = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], source_dir)
        for rel in sorted({r for r in listed.split("\0") if r}):
            src = source_dir / rel
            if not (src.exists() or src.is_symlink()) or src.is_dir():
                continue  # deleted in the work tree, or a submodule
            target_path = dest / rel
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target_path, follow_symlinks=False)
        return dest
    shutil.copytree(
        source_dir,
        dest,
        symlinks=True,
        dirs_exist_ok=True,
        ignore=lambda d, names: [n for n in names if n in _SKIP],
    )
    return dest


def stage_plan(p: Plan, backend: ClusterBackend, key: str) -> Path:
    """Stage the planned project under the backend's stage directory, as `key`."""
    git = p.source.git
    return stage(p.project.dir, git.root if git is not None else None, backend.stage_root() / key)


def node_argv(backend: ClusterBackend, *args: str) -> list[str]:
    """The command a job runs: the node's mlrun performing `_exec` with `args`."""
    return [*backend.node_command(), "-q", "_exec", *args]


def env_build(backend: ClusterBackend) -> str:
    """Where the environment is built: "submit" (here, into the shared cache) or "node" (the
    default when the nodes share no filesystem with us)."""
    default = "submit" if backend.shares_folder() else "node"
    return str(backend.config.get("env_build") or default)


def submit_run(req: RunRequest, backend: ClusterBackend, *, detach: bool) -> dict[str, Any]:
    """Record, stage and submit one run; wait for it unless `detach`. Returns the summary."""
    with plan(req) as p:
        store = cluster_store(req.tracking_uri)
        backend.check_store(store.server() is not None)
        rec = create_record(store, req, p, status=SCHEDULED, backend=backend.name, held_here=False)
        run_id = rec.run_id
        with Signals() as caught:
            try:
                job_id, log = _stage_and_submit(req, p, store, rec, backend, caught)
            except BaseException as exc:
                status = KILLED if isinstance(exc, Interrupted | KeyboardInterrupt) else FAILED
                if isinstance(exc, BackendError):
                    store.log_batch(run_id, tags={T.JOB_REASON: str(exc)[:500]})
                store.set_terminated(run_id, status, int(time.time() * 1000), None)
                raise
    summary: dict[str, Any] = {
        "schema": "mlrun.submit/1",
        "backend": backend.name,
        "run_id": run_id,
        "job_id": job_id,
        "status": SCHEDULED,
    }
    if detach:
        return summary
    console.info(f"run {run_id} submitted as {backend.name} job {job_id}")
    sink = sys.stderr.buffer if req.json else sys.stdout.buffer
    interrupted = wait(
        store,
        backend,
        [run_id],
        poll_interval=backend.poll_interval,
        tail=log if log is not None else JobLog(backend, job_id, sink),
        sink=sink,
    )
    return _attached_summary(store, run_id, summary, interrupted)


def _stage_and_submit(
    req: RunRequest, p: Plan, store: Store, rec: Record, backend: ClusterBackend, caught: Signals
) -> tuple[str, Path | None]:
    """Stage, write the job file, submit; the job id and the log to follow here (None when
    the scheduler keeps the output: the node shares no folder with us)."""
    run_id = rec.run_id
    shared = backend.shares_folder()
    record_source(p, store.artifact_dir(run_id))
    if env_build(backend) == "submit":
        env = prepare_environment(
            p.project, p.env_manager, frozen=req.frozen_requirements, signals=caught
        )
        if tags := env_tags(env):
            store.log_batch(run_id, tags=tags)
    if caught.received is not None:
        raise Interrupted(caught.received)
    # Shared: the snapshot is the stage folder. Uploaded: the folder holds job.json and src/.
    folder = backend.stage_root() / run_id
    staged = stage_plan(p, backend, run_id if shared else f"{run_id}/{UPLOADED_SOURCE}")
    frozen = None
    if req.frozen_requirements is not None:
        frozen = staged / ".mlrun-requirements.frozen.txt"
        shutil.copyfile(req.frozen_requirements, frozen)
    job = _job_fields(req, p, store, rec, backend, staged, frozen)
    write_job_file(store, **job)
    if shared:
        log: Path | None = output_log(store, run_id)
        argv = node_argv(backend, "--run", run_id, "--run-dir", str(store.run_dir(run_id)))
    else:
        # The node reads its own copy, with paths relative to the uploaded folder.
        job["project_dir"] = UPLOADED_SOURCE
        job["frozen"] = str(frozen.relative_to(folder)) if frozen else None
        write_json(folder / JOB_FILE, job)
        remote = store.server()
        if remote is not None:  # the source patch now: the node never sees this folder
            remote.upload_artifacts(run_id)
        log = None
        argv = node_argv(backend, "--job", JOB_FILE)
    job_name = f"mlrun-{run_id[:8]}"
    submitted_at = time.time()
    try:
        sub = backend.submit(
            JobSpec(
                name=job_name,
                argv=argv,
                workdir=staged if shared else folder,
                log=log or store.artifact_dir(run_id) / OUTPUT_LOG,
                script=job_dir(store, run_id) / "job.sh",
                export=backend.export(),
            )
        )
    finally:
        if not shared:
            shutil.rmtree(folder, ignore_errors=True)  # the scheduler holds its upload
    store.log_batch(
        run_id,
        tags={
            T.JOB_ID: sub.job_id,
            T.JOB_SUBMIT_TIME: str(int(submitted_at)),
            T.JOB_NAME: job_name,
        },
    )
    return sub.job_id, log


def _job_fields(
    req: RunRequest,
    p: Plan,
    store: Store,
    rec: Record,
    backend: ClusterBackend,
    staged: Path,
    frozen: Path | None,
) -> dict[str, Any]:
    """What the node needs to perform the run (job.json), so it never reads the store."""
    return {
        "run_id": rec.run_id,
        "experiment_id": rec.experiment_id,
        "command": p.command,
        "project_dir": str(staged),
        "env_manager": p.env_manager,
        "frozen": str(frozen) if frozen else None,
        "tracking_uri": store.shown,
        "capture": req.captures,
        "capture_pattern": req.capture_pattern,
        "mlflow_endpoint": req.mlflow_endpoint,
        "env_build": env_build(backend),
        "params": dict(p.params.all),
        "user": rec.user,
        "backend": backend.name,
        "backend_config": dict(backend.config),  # polls and cancels rebuild the backend from it
        SHARED_KEY: backend.shares_folder(),
    }


def _attached_summary(
    store: Store, run_id: str, summary: dict[str, Any], interrupted: int | None
) -> dict[str, Any]:
    run = store.get_run(run_id)
    summary["status"] = run.status
    code = run.exit_code
    if interrupted is not None:
        code = 128 + interrupted
    elif code is None:
        code = 0 if run.status == FINISHED else 1
    summary["exit_code"] = code
    summary["metrics"] = {k: m.value for k, m in run.metrics.items()}
    summary["params"] = dict(run.params)
    summary["reason"] = T.job_tag(run.tags, T.JOB_REASON)
    return summary
