"""Submit a sweep's trials to a cluster backend as job arrays, then wait for them.

Every trial is recorded, resolved and staged here (one snapshot of the source for the whole
sweep); the backend gets one array `JobSpec` per `array_max` trials, chained so the whole
sweep keeps to `jobs` trials at once (a backend without arrays, Ray, makes one job per
index and holds the rest back itself). Array task i of the array at `offset` performs trial
offset + i (the node finds it through ``job/trials.json``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlrun_cli import console, tags
from mlrun_cli.backends import (
    BackendError,
    ClusterBackend,
    JobSpec,
    Submitted,
    cluster_backend,
    configure,
)
from mlrun_cli.cluster.files import (
    BACKEND_FILE,
    OUTPUT_LOG,
    TRIALS_FILE,
    forget_attempt,
    job_dir,
    output_log,
    read_json,
    read_trials,
    write_job_file,
    write_json,
)
from mlrun_cli.cluster.follow import cancel_runs, wait
from mlrun_cli.cluster.reconcile import Change, active_runs
from mlrun_cli.cluster.submit import DEFAULT_ARRAY_MAX, env_build, node_argv, stage_plan
from mlrun_cli.run.signals import Signals
from mlrun_cli.store.base import FAILED, RUNNING, SCHEDULED, Run, RunIndex
from mlrun_cli.sweeps.summary import finish_sweep, report_trial


def submit_sweep(
    store: RunIndex,
    sweep_id: str,
    spec: Mapping[str, Any],
    backend: ClusterBackend,
    *,
    jobs: int,
    detach: bool,
    as_json: bool,
    max_failures: int | None = None,
) -> dict[str, Any]:
    """Submit the SCHEDULED trials of a sweep as job arrays (at most `jobs` at once)."""
    trial_ids = store.tagged(tags.SWEEP_ID, sweep_id)
    trials = [r for r in store.load_runs(trial_ids) if r.status == SCHEDULED]
    trials.sort(key=lambda r: int(r.tags[tags.SWEEP_INDEX]))
    if not trials:
        raise BackendError(f"sweep {sweep_id[:8]} has no trial left to submit")
    staged, index_of = _stage_trials(store, sweep_id, spec, backend, trials)
    submitted = _submit_arrays(store, backend, sweep_id, staged, index_of, jobs)
    store.log_batch(sweep_id, tags={tags.SWEEP_BACKEND: backend.name})
    store.release(sweep_id)
    summary: dict[str, Any] = {
        "schema": "mlrun.submit/1",
        "backend": backend.name,
        "sweep_id": sweep_id,
        "job_ids": [s.job_id for s in submitted],
        "trials": len(index_of),
    }
    if detach:
        return summary
    console.info(
        f"sweep {sweep_id[:8]}: {len(index_of)} trials submitted to {backend.name} (job"
        f"{'s' if len(submitted) > 1 else ''} {', '.join(s.job_id for s in submitted)})"
    )
    return wait_sweep(store, sweep_id, spec, backend, as_json=as_json, max_failures=max_failures)


# What a trial's last attempt said about itself; a resumed trial must not show it as its own.
_ATTEMPT_TAGS = (
    *(
        key
        for new in (tags.JOB_REASON, tags.JOB_STATE, tags.JOB_NODE, tags.JOB_RESTARTS)
        for key in (new, tags.LEGACY_OF[new])
    ),
    tags.LOST,
    tags.LOST_REASON,
)


def _forget_attempt(store: RunIndex, run: Run) -> None:
    """Before a trial is submitted again (sweep resume): its last attempt's job tags and
    files go; the new job's id, name and submit time replace the old ones."""
    forget_attempt(store, run.run_id)
    for key in _ATTEMPT_TAGS:
        if key in run.tags:
            store.delete_tag(run.run_id, key)


def _stage_trials(
    store: RunIndex,
    sweep_id: str,
    spec: Mapping[str, Any],
    backend: ClusterBackend,
    trials: list[Run],
) -> tuple[Path, dict[str, str]]:
    """Build the env (unless the nodes do), stage the source once, record and write each
    trial's job file. Returns the staged folder and trial index -> run id."""
    from mlrun_cli.project.params import render_command, resolve
    from mlrun_cli.run.launch import prepare_environment
    from mlrun_cli.run.provenance import current_user, env_tags, run_tags
    from mlrun_cli.run.request import RunRequest, plan
    from mlrun_cli.sweeps.prepare import trial_source

    build = env_build(backend)
    req = RunRequest(
        uri=trial_source(spec)[0],
        entry_point=spec["entry_point"],
        params=dict(trials[0].params),
        env_manager=spec["env_manager"],
        version=trial_source(spec)[1],
    )
    with plan(req) as p:
        # Signals are held while the environment is built and the source staged: one stops a
        # build (Interrupted); once built, staging completes and the trials are submitted.
        with Signals() as caught:
            built: dict[str, str] = {}
            if build == "submit":
                built = env_tags(
                    prepare_environment(p.project, p.env_manager, frozen=None, signals=caught)
                )
            staged = stage_plan(p, backend, sweep_id)
        base = {**run_tags(p, current_user(), "", backend.name), **built}
        # Each trial has its own name and given parameters; the first trial's are no one's.
        base.pop(tags.RUN_NAME, None)
        base.pop(tags.PARAMS_GIVEN, None)
        index_of: dict[str, str] = {}
        for run in trials:
            resolved = resolve(p.entry, dict(run.params), project_dir=staged)
            command = render_command(p.entry, resolved)
            given = json.dumps(dict(run.params), sort_keys=True)
            store.log_batch(
                run.run_id, params=resolved.all, tags={**base, tags.PARAMS_GIVEN: given}
            )
            store.set_command(run.run_id, command)
            _forget_attempt(store, run)
            write_job_file(
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
                env_build=build,
                backend=backend.name,
                backend_config=dict(backend.config),
            )
            index_of[run.tags[tags.SWEEP_INDEX]] = run.run_id
            output_log(store, run.run_id)
        sweep_job = job_dir(store, sweep_id)
        write_json(sweep_job / TRIALS_FILE, {**read_trials(sweep_job), **index_of})
    return staged, index_of


def _submit_arrays(
    store: RunIndex,
    backend: ClusterBackend,
    sweep_id: str,
    staged: Path,
    index_of: Mapping[str, str],
    jobs: int,
) -> list[Submitted]:
    """One array job per `array_max` trials, each after the previous one; tags each trial."""
    sweep_job = job_dir(store, sweep_id)
    array_max = int(backend.config.get("array_max") or DEFAULT_ARRAY_MAX)
    indices = sorted(int(i) for i in index_of)
    job_name = f"mlrun-sweep-{sweep_id[:8]}"
    submitted: list[Submitted] = []
    after = None
    for start in range(0, len(indices), array_max):
        chunk = indices[start : start + array_max]
        offset = chunk[0]
        logs = sweep_job / "logs" / f"{offset}"
        logs.mkdir(parents=True, exist_ok=True)
        for i in chunk:  # task i - offset writes its log where the trial's run keeps it
            link = logs / f"{i - offset}.log"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(store.artifact_dir(index_of[str(i)]) / OUTPUT_LOG)
        submitted_at = time.time()
        sub = backend.submit(
            JobSpec(
                name=job_name,
                argv=node_argv(
                    backend,
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
                export=backend.export(),
            )
        )
        after = sub.job_id  # chained, so the whole sweep keeps to `jobs` at once
        submitted.append(sub)
        for i in chunk:
            store.log_batch(
                index_of[str(i)],
                tags={
                    tags.JOB_ID: sub.task_ids[i - offset],
                    tags.JOB_SUBMIT_TIME: str(int(submitted_at)),
                    tags.JOB_NAME: job_name,
                },
            )
    return submitted


def wait_sweep(
    store: RunIndex,
    sweep_id: str,
    spec: Mapping[str, Any],
    backend: ClusterBackend,
    *,
    as_json: bool,
    max_failures: int | None = None,
) -> dict[str, Any]:
    """Wait for a submitted sweep: one line per ended trial, Ctrl-C cancels the rest.

    After `max_failures` failed trials the unstarted ones are cancelled (one call) and the
    running ones finish, as a local sweep stops starting new trials.
    """
    trial_ids = store.tagged(tags.SWEEP_ID, sweep_id)
    total = int(spec["count"])
    done = [sum(1 for r in store.load_runs(trial_ids) if r.status not in (SCHEDULED, RUNNING))]
    failures = [0]

    def report(change: Change) -> None:
        if change.after in (SCHEDULED, RUNNING):
            return
        done[0] += 1
        report_trial(store.get_run(change.run_id), spec, done[0], total)
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

    interrupted = wait(
        store, backend, trial_ids, poll_interval=backend.poll_interval, on_change=report
    )
    return finish_sweep(store, sweep_id, interrupted)


def sweep_target(store: RunIndex, sweep_id: str, config_text: str | None) -> ClusterBackend | None:
    """The backend a sweep was submitted to (config from the sweep's record), or None.

    `config_text` (--backend-config) replaces the saved config; either is checked ready.
    """
    run = store.get_run(sweep_id)
    name = run.tags.get(tags.SWEEP_BACKEND)
    if not name or name == "local":
        return None
    if config_text is not None:
        return configure(name, config_text)
    backend = cluster_backend(name, read_json(job_dir(store, sweep_id) / BACKEND_FILE) or {})
    backend.check_ready()
    return backend


def save_target(store: RunIndex, sweep_id: str, backend: ClusterBackend) -> None:
    """Keep the backend config with the sweep, so a resume submits where it started."""
    write_json(job_dir(store, sweep_id) / BACKEND_FILE, dict(backend.config))
