"""Start a sweep: record it as a parent run with SCHEDULED trials, then run or submit them.

The sweep run carries the spec (an artifact, `sweep.json`) and the tags that find it again;
each trial is a child run whose parameters are set before it starts. Nothing is recorded
until everything was checked (`prepare`), so a refused sweep leaves no trace.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from mlrun_cli import tags
from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import FINISHED, SCHEDULED, NewRun, RunIndex
from mlrun_cli.sweeps.access import open_sweep_store
from mlrun_cli.sweeps.prepare import Prepared, prepare
from mlrun_cli.sweeps.request import SweepRequest, apply_spec_file
from mlrun_cli.sweeps.scheduler import TrialObserver, run_trials
from mlrun_cli.sweeps.summary import SPEC_FILE, trial_counts


def start(req: SweepRequest, observer: TrialObserver | None = None) -> dict[str, Any]:
    """Record the sweep (parent + SCHEDULED trials), build the env once, run the trials.

    With a cluster backend the trials are submitted instead (the summary then has no
    exit_code when detached). `observer` is told about the trials run here.
    """
    req = apply_spec_file(req)
    tgt = None
    if req.backend != "local" or req.backend_config is not None or req.detach:
        from mlrun_cli.backends import configure

        tgt = configure(req.backend, req.backend_config)
        tgt.check_store(server=False)  # a submitted sweep records into the embedded store
        if req.method == "tpe":
            raise ParameterError(
                "--method tpe asks for each trial after the previous ones ended, so it runs "
                "on this machine only; use grid or random with --backend"
            )
    prep = prepare(req)
    store = open_sweep_store(req.tracking_uri)
    _refuse_unfinished_twin(store, prep.hash)
    sweep_id = record_sweep(store, req, prep)
    if req.skip_existing:
        link_existing(store, sweep_id, prep)
    if tgt is not None:
        from mlrun_cli.sweeps.submit import save_target, submit_sweep

        save_target(store, sweep_id, tgt)
        return submit_sweep(
            store,
            sweep_id,
            prep.spec,
            tgt,
            jobs=req.jobs,
            detach=req.detach,
            as_json=req.as_json,
            max_failures=1 if req.fail_fast else req.max_failures,
        )
    return run_trials(
        store,
        sweep_id,
        prep.spec,
        jobs=req.jobs,
        statuses=(SCHEDULED,),
        fail_fast=req.fail_fast,
        max_failures=req.max_failures,
        as_json=req.as_json,
        observer=observer,
    )


def _refuse_unfinished_twin(store: RunIndex, spec_hash: str) -> None:
    """The same sweep again, while the first one has trials left, is a resume in disguise."""
    for other in store.tagged(tags.SWEEP_HASH, spec_hash):
        run = store.get_run(other)
        counts = trial_counts(store, run.run_id)
        if counts.get(FINISHED, 0) < int(run.tags.get(tags.SWEEP_COUNT, "0")):
            raise ParameterError(
                f"an identical sweep {run.run_id[:8]} is unfinished ({counts.get(FINISHED, 0)} of "
                f"{run.tags.get(tags.SWEEP_COUNT)} trials done); resume it with "
                f"'mlrun sweep resume {run.run_id[:8]}'"
            )


def _sweep_tags(req: SweepRequest, prep: Prepared, name: str) -> dict[str, str]:
    return {
        tags.SWEEP: "true",
        tags.SWEEP_HASH: prep.hash,
        tags.SWEEP_METHOD: prep.sweep.method,
        tags.SWEEP_COUNT: str(prep.sweep.count),
        tags.SWEEP_SEED: str(prep.sweep.seed),
        tags.RUN_NAME: name,
        tags.SOURCE_NAME: prep.spec["uri"],  # redacted
        tags.ENTRY_POINT: prep.entry.name,
        **({tags.SWEEP_METRIC: req.metric, tags.SWEEP_GOAL: req.goal} if req.metric else {}),
        **({tags.GIT_COMMIT: prep.spec["commit"]} if prep.spec["commit"] else {}),
    }


def record_sweep(store: RunIndex, req: SweepRequest, prep: Prepared) -> str:
    """Create the sweep run, its spec file and its SCHEDULED trials; returns the sweep's id."""
    from mlrun_cli.config import configured
    from mlrun_cli.run.provenance import current_user

    experiment_id = "0"
    experiment_name = req.experiment_name or configured("experiment_name")
    if experiment_name:
        exp = store.get_experiment_by_name(experiment_name) or store.create_experiment(
            experiment_name
        )
        experiment_id = exp.experiment_id
    user = current_user()
    sweep_id = os.urandom(16).hex()
    name = req.name or f"sweep-{prep.entry.name}-{sweep_id[:6]}"
    now = int(time.time() * 1000)
    store.create_run(
        NewRun(
            run_id=sweep_id,
            experiment_id=experiment_id,
            name=name,
            user=user,
            command=req.command,
            params={},
            start_time=now,
            pid=os.getpid(),
            host=os.uname().nodename,
            tags=_sweep_tags(req, prep, name),
        )
    )
    (store.artifact_dir(sweep_id) / SPEC_FILE).write_text(json.dumps(prep.spec, indent=1))
    trials = [dict(t) for t in prep.resolved] or [{} for _ in range(prep.sweep.count)]
    store.create_runs(
        [
            NewRun(
                run_id=os.urandom(16).hex(),
                experiment_id=experiment_id,
                name=f"{name}-{i}",
                user=user,
                command="",
                params=trial,
                start_time=now,
                status=SCHEDULED,
                tags={
                    tags.SWEEP_ID: sweep_id,
                    tags.SWEEP_INDEX: str(i),
                    tags.PARENT_RUN: sweep_id,
                    tags.RUN_NAME: f"{name}-{i}",
                },
            )
            for i, trial in enumerate(trials)
        ]
    )
    return sweep_id


def link_existing(store: RunIndex, sweep_id: str, prep: Prepared) -> None:
    """Trials identical to a FINISHED run (commit, patch, entry point, typed params) link to it.

    A linked trial is recorded FINISHED with the run's metrics and is not run.
    """
    commit = prep.spec["commit"]
    if not commit:
        return
    finished = [
        r
        for r in store.load_runs(store.tagged(tags.GIT_COMMIT, commit))
        if r.status == FINISHED and r.lifecycle_stage == "active"
    ]
    # Newest first, as a search of the store lists runs: the newest identical run is linked.
    finished.sort(key=lambda r: r.run_id)
    finished.sort(key=lambda r: r.start_time or 0, reverse=True)
    candidates = [
        r
        for r in finished
        if r.tags.get(tags.ENTRY_POINT) == prep.spec["entry_point"]
        and r.tags.get(tags.SWEEP_ID) != sweep_id
        and (prep.spec["patch_sha"] is None) == (r.tags.get(tags.GIT_DIRTY) != "true")
    ]
    from mlrun_cli.project.params import resolve
    from mlrun_cli.run.request import recorded_params

    for trial_id in store.tagged(tags.SWEEP_ID, sweep_id):
        trial = store.get_run(trial_id)
        given = dict(trial.params)
        resolved = resolve(prep.entry, given, project_dir=prep.project.dir)
        full = recorded_params(prep.entry, resolved, given, prep.project.dir)
        for cand in candidates:
            if all(cand.params.get(k) == v for k, v in full.items()):
                store.log_batch(
                    trial_id,
                    tags={tags.SWEEP_LINKED_RUN: cand.run_id},
                    metrics=list(cand.metrics.values()),
                )
                store.set_terminated(trial_id, FINISHED, int(time.time() * 1000), 0)
                break
