"""Submit runs and sweeps to a batch scheduler, then wait for them or leave them (--detach).

The submitting machine does everything a local run does before the command starts (source,
project, parameters, provenance, the environment, the run record), stages an exact snapshot
of the source on the shared filesystem, and hands the scheduler one `mlrun _exec` command.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrun_cli import console
from mlrun_cli.backends import BackendError, JobSpec, Submitted, get_backend
from mlrun_cli.cluster.contract import (
    JOB_DIR,
    JOB_FILE,
    JOB_ID_TAG,
    JOB_NAME_TAG,
    OUTPUT_LOG,
    SUBMIT_TAG,
    Change,
    Interrupt,
    wait,
    write_json,
)
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, SCHEDULED, NewRun
from mlrun_cli.store.sqlite.store import SqliteStore

DEFAULT_POLL_S = 2.0
DEFAULT_ARRAY_MAX = 1000
_SKIP = {".git", ".mlrun", "mlruns", "__pycache__", ".venv", ".tox", ".nox"}


@dataclass(frozen=True)
class Target:
    """A backend and its checked configuration."""

    name: str
    config: Mapping[str, Any]

    @property
    def poll_interval(self) -> float:
        return float(self.config.get("poll_interval") or DEFAULT_POLL_S)


def target(name: str, config_text: str | None) -> Target:
    """Check the backend and its config before anything is recorded or submitted."""
    if name == "slurm":
        from mlrun_cli.backends.slurm.backend import check_ready, load_config

        config = load_config(config_text)
        check_ready(config)
        return Target(name, config)
    get_backend(name)  # names the available backends
    raise BackendError(f"--backend {name} runs in this process; drop --backend-config/--detach")


def cluster_store(tracking_uri: str | None) -> Any:
    """The store a submitted run records into: the embedded one, or an MLflow server."""
    from mlrun_cli.store import open_store, resolve_tracking_uri

    return open_store(resolve_tracking_uri(tracking_uri))


def stage(source_dir: Path, git_root: Path | None, dest: Path) -> Path:
    """Copy the project as it is now (commit + uncommitted changes + untracked, unignored
    files) to `dest`, where the nodes can read it."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if git_root is not None:
        from mlrun_cli.sources.resolve import git

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


def _stage_plan(p: Any, tgt: Target, key: str) -> Path:
    """Stage the planned project under the backend's stage directory, as `key`."""
    from mlrun_cli.backends.slurm.backend import stage_root

    git = p.source.git
    return stage(p.project.dir, git.root if git is not None else None, stage_root(tgt.config) / key)


def _output_log(store: Any, run_id: str) -> Path:
    """The run's output log, created now: it exists from the moment the job is submitted."""
    log = Path(store.artifact_dir(run_id)) / OUTPUT_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    return log


def _node_argv(config: Mapping[str, Any], *args: str) -> list[str]:
    from mlrun_cli.backends.slurm.backend import node_command

    return [*node_command(config), "-q", "_exec", *args]


def _export(config: Mapping[str, Any]) -> list[str]:
    return list(config.get("export") or [])


def _build_env(plan: Any, frozen: Path | None, intr: Interrupt) -> Any:
    from mlrun_cli.envs import get_manager
    from mlrun_cli.envs.cache import BuildInterrupted
    from mlrun_cli.run.flow import Interrupted

    try:
        return get_manager(plan.env_manager).prepare(
            plan.project, frozen=frozen, cancelled=lambda: intr.signal is not None
        )
    except BuildInterrupted:
        raise Interrupted(intr.signal or 2, "while the environment was being built") from None


def _job_file(store: Any, **fields: Any) -> None:
    """What the node needs to perform the run, so it never reads the store."""
    write_json(store.run_dir(fields["run_id"]) / JOB_DIR / JOB_FILE, fields)


def submit_run(req: Any, tgt: Target, *, detach: bool) -> dict[str, Any]:
    """Record, stage and submit one run; wait for it unless `detach`. Returns the summary."""
    from mlrun_cli.run.flow import (
        Interrupted,
        _env_tags,
        _experiment_id,
        _record_source,
        _tags,
        _user,
        plan,
    )

    backend = get_backend(tgt.name, tgt.config)
    p = plan(req)
    store = None
    try:
        store = cluster_store(req.tracking_uri)
        experiment_id = _experiment_id(store, req)
        user = _user()
        run_id = os.urandom(16).hex()
        name = req.run_name or f"{p.entry.name}-{run_id[:8]}"
        tags = {**_tags(p, p.env_manager, user, name), **req.extra_tags}
        tags["mlflow.project.backend"] = tgt.name
        run_id = store.create_run(
            NewRun(
                run_id=run_id,
                experiment_id=experiment_id,
                name=name,
                user=user,
                command=p.command,
                params=p.params.all,
                tags=tags,
                start_time=int(time.time() * 1000),
                status=SCHEDULED,
            )
        ).run_id  # a server store assigns its own id
        if not isinstance(store, SqliteStore):
            store.set_status(run_id, SCHEDULED)  # MLflow creates runs RUNNING
        with Interrupt() as intr:
            try:
                _record_source(p, store.artifact_dir(run_id))
                if tgt.config.get("env_build", "submit") == "submit":
                    env = _build_env(p, req.frozen_requirements, intr)
                    if env_tags := _env_tags(env):
                        store.log_batch(run_id, tags=env_tags)
                if intr.signal is not None:
                    raise Interrupted(intr.signal)
                staged = _stage_plan(p, tgt, run_id)
                frozen = None
                if req.frozen_requirements is not None:
                    frozen = staged / ".mlrun-requirements.frozen.txt"
                    shutil.copyfile(req.frozen_requirements, frozen)
                _job_file(
                    store,
                    run_id=run_id,
                    experiment_id=experiment_id,
                    command=p.command,
                    project_dir=str(staged),
                    env_manager=p.env_manager,
                    frozen=str(frozen) if frozen else None,
                    tracking_uri=str(getattr(store, "shown", store.uri)),
                    capture=bool(req.capture_metrics or req.capture_pattern),
                    capture_pattern=req.capture_pattern,
                    mlflow_endpoint=req.mlflow_endpoint,
                    env_build=tgt.config.get("env_build", "submit"),
                    params=dict(p.params.all),
                    user=user,
                )
                log = _output_log(store, run_id)
                job_name = f"mlrun-{run_id[:8]}"
                submitted_at = time.time()
                sub = backend.submit(
                    JobSpec(
                        name=job_name,
                        argv=_node_argv(
                            tgt.config, "--run", run_id, "--run-dir", str(store.run_dir(run_id))
                        ),
                        workdir=staged,
                        log=log,
                        script=store.run_dir(run_id) / JOB_DIR / "job.sh",
                        export=_export(tgt.config),
                    )
                )
            except BaseException as exc:
                status = KILLED if isinstance(exc, Interrupted | KeyboardInterrupt) else FAILED
                if isinstance(exc, BackendError):
                    store.log_batch(run_id, tags={"mlrun.slurm.reason": str(exc)[:500]})
                store.set_terminated(run_id, status, int(time.time() * 1000), None)
                raise
        store.log_batch(
            run_id,
            tags={
                JOB_ID_TAG: sub.job_id,
                SUBMIT_TAG: str(int(submitted_at)),
                JOB_NAME_TAG: job_name,
            },
        )
    finally:
        p.source.cleanup()
    summary: dict[str, Any] = {
        "schema": "mlrun.submit/1",
        "backend": tgt.name,
        "run_id": run_id,
        "job_id": sub.job_id,
        "status": SCHEDULED,
    }
    if detach:
        return summary
    console.info(f"run {run_id} submitted as {tgt.name} job {sub.job_id}")
    interrupted = wait(
        store,
        backend,
        [run_id],
        poll_interval=tgt.poll_interval,
        tail=log,
        sink=sys.stderr.buffer if req.json else sys.stdout.buffer,
    )
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
    summary["reason"] = run.tags.get("mlrun.slurm.reason")
    return summary


def submit_sweep(
    store: SqliteStore,
    sweep_id: str,
    spec: Mapping[str, Any],
    tgt: Target,
    *,
    jobs: int,
    detach: bool,
    as_json: bool,
    max_failures: int | None = None,
) -> dict[str, Any]:
    """Submit the SCHEDULED trials of a sweep as job arrays (at most `jobs` at once)."""
    from mlrun_cli.project.params import render_command, resolve
    from mlrun_cli.run.flow import RunRequest, _env_tags, _tags, _user, plan

    backend = get_backend(tgt.name, tgt.config)
    trial_ids = store.tagged("mlrun.sweep.id", sweep_id)
    trials = [r for r in store.load_runs(trial_ids) if r.status == SCHEDULED]
    trials.sort(key=lambda r: int(r.tags["mlrun.sweep.index"]))
    if not trials:
        raise BackendError(f"sweep {sweep_id[:8]} has no trial left to submit")
    p = plan(
        RunRequest(
            uri=spec["uri"],
            entry_point=spec["entry_point"],
            params=dict(trials[0].params),
            env_manager=spec["env_manager"],
            version=spec.get("version"),
        )
    )
    try:
        with Interrupt() as intr:
            env_tags: dict[str, str] = {}
            if tgt.config.get("env_build", "submit") == "submit":
                env_tags = _env_tags(_build_env(p, None, intr))
            staged = _stage_plan(p, tgt, sweep_id)
        base = {
            **_tags(p, p.env_manager, _user(), ""),
            **env_tags,
            "mlflow.project.backend": tgt.name,
        }
        base.pop("mlflow.runName", None)
        base.pop("mlrun.params.given", None)
        sweep_job = store.run_dir(sweep_id) / JOB_DIR
        index_of: dict[str, str] = {}
        for run in trials:
            resolved = resolve(p.entry, dict(run.params), project_dir=staged)
            command = render_command(p.entry, resolved)
            given = json.dumps(dict(run.params), sort_keys=True)
            store.log_batch(
                run.run_id, params=resolved.all, tags={**base, "mlrun.params.given": given}
            )
            store.set_command(run.run_id, command)
            _job_file(
                store,
                run_id=run.run_id,
                experiment_id=run.experiment_id,
                command=command,
                project_dir=str(staged),
                env_manager=p.env_manager,
                frozen=None,
                tracking_uri=str(store.root),
                params=dict(resolved.all),
                user=run.user,
                env_build=tgt.config.get("env_build", "submit"),
            )
            index_of[run.tags["mlrun.sweep.index"]] = run.run_id
            _output_log(store, run.run_id)
        known = _read_trials(sweep_job)
        write_json(sweep_job / "trials.json", {**known, **index_of})
    finally:
        p.source.cleanup()
    array_max = int(tgt.config.get("array_max") or DEFAULT_ARRAY_MAX)
    indices = sorted(int(i) for i in index_of)
    job_name = f"mlrun-sweep-{sweep_id[:8]}"
    submitted: list[Submitted] = []
    after = None
    for start in range(0, len(indices), array_max):
        chunk = indices[start : start + array_max]
        offset = chunk[0]
        logs = sweep_job / "logs" / f"{offset}"
        logs.mkdir(parents=True, exist_ok=True)
        for i in chunk:
            link = logs / f"{i - offset}.log"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(store.artifact_dir(index_of[str(i)]) / OUTPUT_LOG)
        submitted_at = time.time()
        sub = backend.submit(
            JobSpec(
                name=job_name,
                argv=_node_argv(
                    tgt.config,
                    "--tracking-uri",
                    str(store.root),
                    "--sweep",
                    sweep_id,
                    "--index",
                    "{index}",
                    "--offset",
                    str(offset),
                ),
                workdir=staged,
                log=logs,
                script=sweep_job / f"array-{offset}.sh",
                indices=[i - offset for i in chunk],
                concurrency=jobs,
                after=after,
                export=_export(tgt.config),
            )
        )
        after = sub.job_id  # chained, so the whole sweep keeps to `jobs` at once
        submitted.append(sub)
        for i in chunk:
            store.log_batch(
                index_of[str(i)],
                tags={
                    JOB_ID_TAG: sub.task_ids[i - offset],
                    SUBMIT_TAG: str(int(submitted_at)),
                    JOB_NAME_TAG: job_name,
                },
            )
    store.log_batch(sweep_id, tags={"mlrun.sweep.backend": tgt.name})
    store.release(sweep_id)
    summary: dict[str, Any] = {
        "schema": "mlrun.submit/1",
        "backend": tgt.name,
        "sweep_id": sweep_id,
        "job_ids": [s.job_id for s in submitted],
        "trials": len(indices),
    }
    if detach:
        return summary
    console.info(
        f"sweep {sweep_id[:8]}: {len(indices)} trials submitted as {tgt.name} array job"
        f"{'s' if len(submitted) > 1 else ''} {', '.join(s.job_id for s in submitted)}"
    )
    return wait_sweep(store, sweep_id, spec, tgt, as_json=as_json, max_failures=max_failures)


def _read_trials(folder: Path) -> dict[str, str]:
    from mlrun_cli.cluster.contract import read_json

    return {str(k): str(v) for k, v in (read_json(folder / "trials.json") or {}).items()}


def wait_sweep(
    store: SqliteStore,
    sweep_id: str,
    spec: Mapping[str, Any],
    tgt: Target,
    *,
    as_json: bool,
    max_failures: int | None = None,
) -> dict[str, Any]:
    """Wait for a submitted sweep: one line per ended trial, Ctrl-C cancels the rest.

    After `max_failures` failed trials the unstarted ones are cancelled (one call) and the
    running ones finish, as a local sweep stops starting new trials.
    """
    from mlrun_cli.cluster.contract import active_runs, cancel_runs
    from mlrun_cli.sweeps.scheduler import _report, finish_sweep

    backend = get_backend(tgt.name, tgt.config)
    trial_ids = store.tagged("mlrun.sweep.id", sweep_id)
    total = int(spec["count"])
    done = [sum(1 for r in store.load_runs(trial_ids) if r.status not in (SCHEDULED, "RUNNING"))]
    failures = [0]

    def report(change: Change) -> None:
        if change.after in (SCHEDULED, "RUNNING"):
            return
        done[0] += 1
        _report(store.get_run(change.run_id), spec, done[0], total)
        if change.after != FAILED or max_failures is None:
            return
        failures[0] += 1
        if failures[0] == max_failures:
            unstarted = [r for r in active_runs(store, trial_ids) if r.status == SCHEDULED]
            cancel_runs(store, backend, unstarted, gentle=False)
            console.info(
                f"{failures[0]} trial(s) failed: {len(unstarted)} unstarted trial(s) cancelled, "
                "running ones finish"
            )

    interrupted = wait(store, backend, trial_ids, poll_interval=tgt.poll_interval, on_change=report)
    summary = finish_sweep(store, sweep_id, interrupted)
    return summary


def sweep_target(store: SqliteStore, sweep_id: str, config_text: str | None) -> Target | None:
    """The backend a sweep was submitted to (config from the sweep's record), or None."""
    from mlrun_cli.cluster.contract import read_json

    run = store.get_run(sweep_id)
    name = run.tags.get("mlrun.sweep.backend")
    if not name or name == "local":
        return None
    if config_text is not None:
        return target(name, config_text)
    saved = read_json(store.run_dir(sweep_id) / JOB_DIR / "backend.json") or {}
    from mlrun_cli.backends.slurm.backend import check_ready

    check_ready(saved)
    return Target(name, saved)


def save_target(store: SqliteStore, sweep_id: str, tgt: Target) -> None:
    write_json(store.run_dir(sweep_id) / JOB_DIR / "backend.json", dict(tgt.config))
