"""Plan a sweep as a parent run with SCHEDULED trials, then run, resume, show and cancel it.

Each trial is exactly an `mlrun run`: a `mlrun _trial RUN_ID` process adopts the claimed run
and does everything a run does (environment from the warm cache, child contract, signals,
provenance). Claims are atomic in the store, so two resumes never run one trial, and a trial
holds a lease (the pid, host and start time of the process running it): a trial whose process
is gone is LOST (recorded KILLED with `mlrun.lost`) and runs again on resume.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlrun_cli import console
from mlrun_cli.backends import JobSpec
from mlrun_cli.backends.local import LocalBackend
from mlrun_cli.errors import MlrunError, ParameterError, TrackingError
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, RUNNING, SCHEDULED, NewRun, Run
from mlrun_cli.store.sqlite.store import SqliteStore
from mlrun_cli.sweeps.plan import (
    SweepPlan,
    describe_difference,
    domains_of,
    expand,
    read_rows,
    spec_hash,
)

SPEC_FILE = "sweep.json"


@dataclass(frozen=True)
class SweepRequest:
    uri: str
    entry_point: str = "main"
    params: Mapping[str, str] = field(default_factory=dict)
    literal: Sequence[str] = ()
    file: Path | None = None
    spec_file: Path | None = None
    trials: int | None = None
    seed: int | None = None
    jobs: int = 1
    fail_fast: bool = False
    max_failures: int | None = None
    metric: str | None = None
    goal: str = "maximize"
    skip_existing: bool = False
    name: str | None = None
    method: str | None = None
    env_manager: str | None = None
    version: str | None = None
    tracking_uri: str | None = None
    experiment_name: str | None = None
    as_json: bool = False
    backend: str = "local"
    backend_config: str | None = None
    detach: bool = False


def _store(tracking_uri: str | None) -> SqliteStore:
    from mlrun_cli.store import open_store, resolve_tracking_uri

    store = open_store(resolve_tracking_uri(tracking_uri))
    if not isinstance(store, SqliteStore):
        raise TrackingError(
            "sweeps need the embedded store (a directory); MLflow servers are not supported for them yet"
        )
    from mlrun_cli.cluster.contract import refresh

    refresh(store)  # trials on a cluster: what their nodes wrote since the last look
    return store


def apply_spec_file(req: SweepRequest) -> SweepRequest:
    """Fill the request from a --spec YAML (validated by schemas/sweep.schema.json)."""
    if req.spec_file is None:
        return req
    import dataclasses

    from mlrun_cli.project.validation import load_validated

    doc = load_validated("sweep", req.spec_file, ParameterError) or {}
    params = {}
    for name, value in (doc.get("parameters") or {}).items():
        if isinstance(value, list):
            value = "[" + ",".join(str(v) for v in value) + "]"
        params[str(name)] = str(value)
    jobs = doc.get("jobs", req.jobs)
    return dataclasses.replace(
        req,
        entry_point=doc.get("entry_point", req.entry_point),
        params={**params, **req.params},
        method=req.method or doc.get("method"),
        trials=req.trials or doc.get("trials"),
        seed=req.seed if req.seed is not None else doc.get("seed"),
        metric=req.metric or doc.get("metric"),
        goal=doc.get("goal", req.goal),
        jobs=os.cpu_count() or 1 if jobs == "auto" else int(jobs),
    )


@dataclass
class Prepared:
    project: Any  # project.Project
    entry: Any  # project.EntryPoint
    env_manager: str
    sweep: SweepPlan
    resolved: list[dict[str, str]]  # each trial's given parameters, checked and paths resolved
    commands: list[str]
    spec: dict[str, Any]
    hash: str


def prepare(req: SweepRequest) -> Prepared:
    """Check everything, expand the trials and type their values; nothing is recorded."""
    from mlrun_cli.envs import default_manager, get_manager
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.project.params import render_command, resolve
    from mlrun_cli.sources.resolve import resolve_source

    if req.jobs < 1:
        raise ParameterError("-j/--jobs must be 1 or more (or auto)")
    if req.method == "tpe":
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise ParameterError(
                "--method tpe needs optuna: pip install 'mlrun-cli[optuna]'"
            ) from None
    rows = read_rows(req.file) if req.file else None
    domains = domains_of(req.params, req.literal)
    sweep = expand(domains, method=req.method, trials=req.trials, seed=req.seed, rows=rows)
    source = resolve_source(req.uri, req.version)
    try:
        project = load_project(source.dir)
        entry = project.entry_point(req.entry_point)
        names = {d.name for d in domains} | {k for row in rows or [] for k in row}
        unknown = sorted(n for n in names if entry.declared and n not in entry.parameters)
        if unknown:
            where = project.file.name if project.file else str(project.dir)
            raise ParameterError(
                f"{where}: entry point {entry.name!r} has no parameter {unknown[0]!r} "
                f"(declared: {', '.join(entry.parameters) or 'none'}); check the name"
            )
        manager = req.env_manager or default_manager(project)
        get_manager(manager)
        resolved, commands = [], []
        for trial in sweep.trials:
            r = resolve(entry, trial, project_dir=project.dir)
            resolved.append({k: r.all[k] for k in trial})
            commands.append(render_command(entry, r))
        git = source.git
    finally:
        source.cleanup()
    spec = {
        "uri": req.uri,
        "version": req.version,
        "commit": git.commit if git else None,
        "patch_sha": hashlib.sha256(git.patch).hexdigest() if git and git.patch else None,
        "entry_point": entry.name,
        "env_manager": manager,
        "params": dict(req.params),
        "literal": list(req.literal),
        "method": sweep.method,
        "seed": sweep.seed,
        "count": sweep.count,
        "trials": resolved,
        "varying": list(sweep.varying),
        "metric": req.metric,
        "goal": req.goal,
    }
    return Prepared(project, entry, manager, sweep, resolved, commands, spec, spec_hash(spec))


def start(req: SweepRequest) -> dict[str, Any]:
    """Record the sweep (parent + SCHEDULED trials), build the env once, run the trials."""
    from mlrun_cli.run.flow import _user

    req = apply_spec_file(req)
    tgt = None
    if req.backend != "local" or req.backend_config is not None or req.detach:
        from mlrun_cli.cluster.submit import target

        tgt = target(req.backend, req.backend_config)
        if req.method == "tpe":
            raise ParameterError(
                "--method tpe asks for each trial after the previous ones ended, so it runs "
                "on this machine only; use grid or random with --backend"
            )
    prep = prepare(req)
    store = _store(req.tracking_uri)
    for other in store.tagged("mlrun.sweep.hash", prep.hash):
        run = store.get_run(other)
        counts = _counts(store, run.run_id)
        if counts.get(FINISHED, 0) < int(run.tags.get("mlrun.sweep.count", "0")):
            raise ParameterError(
                f"an identical sweep {run.run_id[:8]} is unfinished ({counts.get(FINISHED, 0)} of "
                f"{run.tags.get('mlrun.sweep.count')} trials done); resume it with "
                f"'mlrun sweep resume {run.run_id[:8]}'"
            )
    experiment_id = "0"
    if req.experiment_name:
        exp = store.get_experiment_by_name(req.experiment_name) or store.create_experiment(
            req.experiment_name
        )
        experiment_id = exp.experiment_id
    user = _user()
    sweep_id = os.urandom(16).hex()
    name = req.name or f"sweep-{prep.entry.name}-{sweep_id[:6]}"
    now = int(time.time() * 1000)
    store.create_run(
        NewRun(
            run_id=sweep_id,
            experiment_id=experiment_id,
            name=name,
            user=user,
            command="mlrun sweep " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "mlrun sweep",
            params={},
            start_time=now,
            pid=os.getpid(),
            host=os.uname().nodename,
            tags={
                "mlrun.sweep": "true",
                "mlrun.sweep.hash": prep.hash,
                "mlrun.sweep.method": prep.sweep.method,
                "mlrun.sweep.count": str(prep.sweep.count),
                "mlrun.sweep.seed": str(prep.sweep.seed),
                "mlflow.runName": name,
                "mlflow.source.name": req.uri,
                "mlflow.project.entryPoint": prep.entry.name,
                **(
                    {"mlrun.sweep.metric": req.metric, "mlrun.sweep.goal": req.goal}
                    if req.metric
                    else {}
                ),
                **(
                    {"mlflow.source.git.commit": prep.spec["commit"]} if prep.spec["commit"] else {}
                ),
            },
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
                    "mlrun.sweep.id": sweep_id,
                    "mlrun.sweep.index": str(i),
                    "mlflow.parentRunId": sweep_id,
                    "mlflow.runName": f"{name}-{i}",
                },
            )
            for i, trial in enumerate(trials)
        ]
    )
    if req.skip_existing:
        _link_existing(store, sweep_id, prep)
    if tgt is not None:
        from mlrun_cli.cluster.submit import save_target, submit_sweep

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
    return _execute(
        store,
        sweep_id,
        prep.spec,
        req.jobs,
        (SCHEDULED,),
        req.fail_fast,
        req.max_failures,
        req.as_json,
    )


def _link_existing(store: SqliteStore, sweep_id: str, prep: Prepared) -> None:
    """Trials identical to a FINISHED run (commit, patch, entry point, typed params) link to it."""
    if not prep.spec["commit"]:
        return
    candidates = [
        r
        for r in store.search_runs(
            statuses=[FINISHED],
            limit=100000,
            filter_string=f"tags.mlflow.source.git.commit = '{prep.spec['commit']}'",
        )
        if r.tags.get("mlflow.project.entryPoint") == prep.spec["entry_point"]
        and r.tags.get("mlrun.sweep.id") != sweep_id
        and (prep.spec["patch_sha"] is None) == (r.tags.get("mlrun.git.dirty") != "true")
    ]
    from mlrun_cli.project.params import resolve

    entry = prep.entry
    for trial_id in store.tagged("mlrun.sweep.id", sweep_id):
        trial = store.get_run(trial_id)
        full = resolve(entry, dict(trial.params), project_dir=prep.project.dir).all
        for cand in candidates:
            if all(cand.params.get(k) == v for k, v in full.items()):
                store.log_batch(
                    trial_id,
                    tags={"mlrun.sweep.linked_run": cand.run_id},
                    metrics=list(cand.metrics.values()),
                )
                store.set_terminated(trial_id, FINISHED, int(time.time() * 1000), 0)
                break


class _Stop:
    def __init__(self, backend: LocalBackend) -> None:
        self.signal: int | None = None
        self.backend = backend
        self.jobs: dict[str, str] = {}  # trial run id -> job id

    def handle(self, signum: int, frame: Any) -> None:
        first = self.signal is None
        self.signal = self.signal or signum
        # Each trial process ends its own command's process group (forward, SIGTERM, SIGKILL).
        sig = signal.Signals(signum if first else signal.SIGINT).name.removeprefix("SIG")
        self.backend.cancel(list(self.jobs.values()), signal=sig)


def _execute(
    store: SqliteStore,
    sweep_id: str,
    spec: Mapping[str, Any],
    jobs: int,
    statuses: Sequence[str],
    fail_fast: bool,
    max_failures: int | None,
    as_json: bool,
) -> dict[str, Any]:
    from mlrun_cli.envs import get_manager
    from mlrun_cli.project.mlproject import load_project
    from mlrun_cli.sources.resolve import resolve_source

    # With --json the summary owns stdout and the trials' output goes to stderr; with several
    # trials at once their output stays in each run's log rather than interleaving.
    out: Any = sys.stderr if as_json else (subprocess.DEVNULL if jobs > 1 else None)
    backend = LocalBackend(stdout=out)
    stop = _Stop(backend)
    old = {s: signal.signal(s, stop.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    host = os.uname().nodename
    parent = store.get_run(sweep_id)
    store.adopt_run(sweep_id, os.getpid(), host, parent.start_time or 0, parent.command or "")
    try:
        # The environment is resolved and built once, before fanning out.
        source = resolve_source(spec["uri"], spec.get("version"))
        try:
            get_manager(spec["env_manager"]).prepare(
                load_project(source.dir), cancelled=lambda: stop.signal is not None
            )
        finally:
            source.cleanup()
        tpe = _Tpe(store, sweep_id, spec) if spec["method"] == "tpe" else None
        total = int(spec["count"])
        live = _LiveTable(spec, total) if not as_json and sys.stderr.isatty() else None
        failures, done = 0, 0
        stopping = False
        while True:
            while not stopping and stop.signal is None and len(stop.jobs) < jobs:
                rid = store.claim_trial(sweep_id, statuses, os.getpid(), host)
                if rid is None:
                    break
                if tpe is not None:
                    tpe.ask(rid)
                stop.jobs[rid] = backend.submit(
                    JobSpec(
                        name=rid,
                        argv=[
                            sys.executable,
                            "-m",
                            "mlrun_cli",
                            "-q",
                            "_trial",
                            rid,
                            "--tracking-uri",
                            str(store.root),
                        ],
                        workdir=Path.cwd(),
                        log=backend.log_path(store.run_dir(rid)),
                        script=store.run_dir(rid),
                    )
                ).job_id
            if not stop.jobs:
                break
            time.sleep(0.02)
            states = backend.poll(list(stop.jobs.values()))
            for rid, job_id in list(stop.jobs.items()):
                if states[job_id].state == "RUNNING":
                    continue
                del stop.jobs[rid]
                returncode = backend.forget(job_id)
                run = store.get_run(rid)
                if run.status == RUNNING:  # the trial process died before recording an end
                    store.log_batch(
                        rid,
                        tags={
                            "mlrun.lost": "true",
                            "mlrun.lost.reason": "trial process exited early",
                        },
                    )
                    store.set_terminated(rid, KILLED, int(time.time() * 1000), returncode)
                    run = store.get_run(rid)
                done += 1
                if tpe is not None:
                    tpe.tell(run)
                if run.status == FAILED:
                    failures += 1
                    if fail_fast or (max_failures is not None and failures >= max_failures):
                        stopping = True
                if live is not None:
                    live.update(run, done)
                else:
                    _report(run, spec, done, total)
        if live is not None:
            live.close()
        return finish_sweep(store, sweep_id, stop.signal)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def finish_sweep(store: SqliteStore, sweep_id: str, interrupted: int | None) -> dict[str, Any]:
    """Record the sweep's end (status, best trial) once no trial runs; returns its summary."""
    summary = show(store, sweep_id)
    total = int(summary["sweep"]["count"] or 0)
    if interrupted:
        status = KILLED
    else:
        status = FINISHED if summary["counts"].get(FINISHED, 0) == total else FAILED
    _record_best(store, sweep_id, summary)
    store.set_terminated(sweep_id, status, int(time.time() * 1000), None)
    summary = show(store, sweep_id)
    summary["exit_code"] = 128 + interrupted if interrupted else (0 if status == FINISHED else 1)
    return summary


class _LiveTable:
    """On a terminal: one table of the trials (params that vary, status, metric, duration)."""

    def __init__(self, spec: Mapping[str, Any], total: int) -> None:
        from rich.live import Live

        self.spec = spec
        self.total = total
        self.done = 0
        self.rows: dict[str, Run] = {}
        self.live = Live(
            self._table(),
            console=console.rich_console(),
            transient=False,
            refresh_per_second=4,
            redirect_stderr=False,
        )
        self.live.start()

    def update(self, run: Run, done: int | None = None) -> None:
        self.rows[run.run_id] = run
        if done is not None:
            self.done = done
        self.live.update(self._table(), refresh=True)

    def close(self) -> None:
        self.live.stop()

    def _table(self) -> Any:
        from rich.table import Table

        varying = list(self.spec.get("varying") or [])
        metric = self.spec.get("metric")
        table = Table(title=f"sweep: {self.done}/{self.total} done", title_justify="left")
        for col in ["trial", *varying, *([metric] if metric else []), "status", "duration"]:
            table.add_column(col)
        # The running trials and the most recent finished ones fit on one screen.
        runs = sorted(self.rows.values(), key=lambda r: int(r.tags.get("mlrun.sweep.index", "0")))
        shown = [r for r in runs if r.status == RUNNING] + [r for r in runs if r.status != RUNNING][
            -15:
        ]
        for r in shown:
            value = r.metrics.get(metric) if metric else None
            duration = ""
            if r.start_time and r.end_time and r.status != RUNNING:
                duration = f"{(r.end_time - r.start_time) / 1000:.1f}s"
            table.add_row(
                r.tags.get("mlrun.sweep.index", ""),
                *(r.params.get(v, "") for v in varying),
                *([f"{value.value:.6g}" if value else ""] if metric else []),
                r.status,
                duration,
            )
        return table


def _report(run: Run, spec: Mapping[str, Any], done: int, total: int) -> None:
    varying = " ".join(f"{k}={run.params.get(k, '')}" for k in spec.get("varying") or [])
    metric = spec.get("metric")
    value = f" {metric}={run.metrics[metric].value:.6g}" if metric and metric in run.metrics else ""
    duration = ""
    if run.start_time and run.end_time:
        duration = f" ({(run.end_time - run.start_time) / 1000:.1f}s)"
    console.info(
        f"[{done}/{total}] trial {run.tags.get('mlrun.sweep.index')} {run.status} {varying}{value}{duration}"
    )


def _record_best(store: SqliteStore, sweep_id: str, summary: Mapping[str, Any]) -> None:
    best = summary.get("best")
    if best and best.get("value") is not None:
        store.log_batch(sweep_id, tags={"mlrun.sweep.best_run": best["run_id"]})
        from mlrun_cli.store.base import Metric

        with contextlib.suppress(MlrunError):
            store.log_batch(
                sweep_id,
                metrics=[
                    Metric(f"best_{summary['metric']}", best["value"], 0, int(time.time() * 1000))
                ],
            )


def _counts(store: SqliteStore, sweep_id: str) -> dict[str, int]:
    rows = store.conn.execute(
        "SELECT r.status, COUNT(*) FROM runs r JOIN tags t ON t.run_id = r.run_id "
        "AND t.key = 'mlrun.sweep.id' AND t.value = ? GROUP BY r.status",
        (sweep_id,),
    ).fetchall()
    return {s: n for s, n in rows}


def find_sweep(store: SqliteStore, ref: str) -> Run:
    """A sweep by id, unique id prefix, or name."""
    ids = [
        r[0]
        for r in store.conn.execute(
            "SELECT r.run_id FROM runs r JOIN tags t ON t.run_id = r.run_id AND t.key = 'mlrun.sweep' "
            "WHERE r.run_id LIKE ? OR r.name = ?",
            (ref.lower() + "%", ref),
        ).fetchall()
    ]
    if not ids:
        raise ParameterError(f"no sweep {ref!r} in {store.root}; see 'mlrun sweep list'")
    if len(ids) > 1:
        raise ParameterError(f"sweep {ref!r} is ambiguous; give more of its id")
    return store.get_run(ids[0])


def load_spec(store: SqliteStore, sweep_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((store.artifact_dir(sweep_id) / SPEC_FILE).read_text())
    return data


def resume(
    tracking_uri: str | None,
    ref: str,
    *,
    retry_failed: bool,
    jobs: int | None,
    force: bool,
    as_json: bool,
    backend_config: str | None = None,
    detach: bool = False,
) -> dict[str, Any]:
    """Mark lost trials, then run the unfinished ones (FAILED too with retry_failed).

    A sweep submitted to a cluster is resumed there: only the missing indices are submitted.
    """
    from mlrun_cli.run.lost import why_lost

    store = _store(tracking_uri)
    sweep = find_sweep(store, ref)
    spec = load_spec(store, sweep.run_id)
    from mlrun_cli.cluster.submit import sweep_target

    tgt = sweep_target(store, sweep.run_id, backend_config)
    if tgt is not None:
        from mlrun_cli.cluster.contract import active_in_sweep, sync

        sync(store, store.tagged("mlrun.sweep.id", sweep.run_id))
        if active_in_sweep(store, sweep.run_id):
            raise ParameterError(
                f"sweep {sweep.run_id[:8]} still has trials queued or running on {tgt.name}; "
                f"wait for them or 'mlrun cancel {sweep.run_id[:8]}' first"
            )
    elif detach:
        raise ParameterError("--detach needs a sweep submitted with --backend slurm")
    counts = _counts(store, sweep.run_id)
    todo = counts.get(SCHEDULED, 0) + counts.get(KILLED, 0) + counts.get(RUNNING, 0)
    if retry_failed:
        todo += counts.get(FAILED, 0)
    if todo == 0:
        raise ParameterError(
            f"sweep {sweep.run_id[:8]} is finished: nothing to resume (--retry-failed reruns FAILED trials)"
        )
    current = _current_spec(spec)
    if spec_hash(current) != spec_hash(spec) and not force:
        raise ParameterError(
            f"sweep {sweep.run_id[:8]} was planned on other sources ({describe_difference(spec, current)}); "
            "resume with --force to run the rest on these"
        )
    for rid in store.tagged("mlrun.sweep.id", sweep.run_id):
        pid, host = store.run_owner(rid)
        run = store.get_run(rid)
        if run.status == RUNNING and host == os.uname().nodename and why_lost(pid, run.start_time):
            store.log_batch(
                rid,
                tags={
                    "mlrun.lost": "true",
                    "mlrun.lost.reason": why_lost(pid, run.start_time) or "",
                },
            )
            store.set_terminated(rid, KILLED, int(time.time() * 1000), None)
    # Trials to run again go back to SCHEDULED once, here: a trial that fails again in this
    # resume is not picked up a second time.
    again = (KILLED, FAILED) if retry_failed else (KILLED,)
    for rid in store.tagged("mlrun.sweep.id", sweep.run_id):
        if store.get_run(rid).status in again:
            store.set_status(rid, SCHEDULED)
    store.set_status(sweep.run_id, RUNNING)
    if tgt is not None:
        from mlrun_cli.cluster.submit import submit_sweep

        return submit_sweep(
            store, sweep.run_id, spec, tgt, jobs=jobs or 1, detach=detach, as_json=as_json
        )
    return _execute(store, sweep.run_id, spec, jobs or 1, (SCHEDULED,), False, None, as_json)


def _current_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    from mlrun_cli.sources.resolve import resolve_source

    source = resolve_source(spec["uri"], spec.get("version"))
    try:
        git = source.git
        return {
            **spec,
            "commit": git.commit if git else None,
            "patch_sha": hashlib.sha256(git.patch).hexdigest() if git and git.patch else None,
        }
    finally:
        source.cleanup()


def show(
    store: SqliteStore, sweep_id: str, sort: str | None = None, agg: str = "last"
) -> dict[str, Any]:
    """The documented summary of a sweep (schema mlrun.sweep/1)."""
    sweep = store.get_run(sweep_id)
    spec = load_spec(store, sweep.run_id)
    metric = sort or spec.get("metric")
    goal = spec.get("goal") or "maximize"
    ids = store.tagged("mlrun.sweep.id", sweep.run_id)
    runs = store.load_runs(ids) if ids else []
    values: dict[str, float] = {}
    if metric:
        if agg == "last":
            values = {r.run_id: r.metrics[metric].value for r in runs if metric in r.metrics}
        else:
            fn = "MIN" if agg == "min" else "MAX"
            marks = ",".join("?" * len(ids))
            values = {
                rid: v
                for rid, v in store.conn.execute(
                    f"SELECT run_id, {fn}(value) FROM metrics WHERE key = ? AND run_id IN ({marks}) GROUP BY run_id",
                    (metric, *ids),
                ).fetchall()
                if v is not None
            }
    trials: list[dict[str, Any]] = []
    for r in runs:
        duration = (
            (r.end_time - r.start_time) / 1000
            if r.start_time and r.end_time and r.status != SCHEDULED
            else None
        )
        trials.append(
            {
                "index": int(r.tags.get("mlrun.sweep.index", "0")),
                "run_id": r.run_id,
                "status": r.status,
                "params": dict(r.params),
                "metric": values.get(r.run_id),
                "duration_s": duration,
                "lost": r.tags.get("mlrun.lost") == "true",
                "linked_run": r.tags.get("mlrun.sweep.linked_run"),
            }
        )
    scored = [
        t
        for t in trials
        if t["metric"] is not None and t["status"] == FINISHED and not math.isnan(t["metric"])
    ]
    best = None
    if scored:
        best_trial = (min if goal == "minimize" else max)(scored, key=lambda t: t["metric"])
        best = {
            "index": best_trial["index"],
            "run_id": best_trial["run_id"],
            "value": best_trial["metric"],
            "params": best_trial["params"],
        }
    if metric:
        sign = 1 if goal == "minimize" else -1
        trials.sort(key=lambda t: (t["metric"] is None, sign * (t["metric"] or 0), t["index"]))
    else:
        trials.sort(key=lambda t: t["index"])
    counts: dict[str, int] = {}
    for t in trials:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    return {
        "schema": "mlrun.sweep/1",
        "sweep": {
            "run_id": sweep.run_id,
            "name": sweep.name,
            "status": sweep.status,
            "method": spec.get("method"),
            "count": spec.get("count"),
            "seed": spec.get("seed"),
        },
        "metric": metric,
        "goal": goal,
        "agg": agg,
        "varying": spec.get("varying") or [],
        "counts": counts,
        "best": best,
        "trials": trials,
    }


def list_sweeps(store: SqliteStore) -> list[dict[str, Any]]:
    out = []
    for rid in store.tagged("mlrun.sweep", "true"):
        run = store.get_run(rid)
        out.append(
            {
                "run_id": run.run_id,
                "name": run.name,
                "status": run.status,
                "start_time": run.start_time,
                "count": int(run.tags.get("mlrun.sweep.count", "0")),
                "counts": _counts(store, rid),
            }
        )
    return sorted(out, key=lambda s: -(s["start_time"] or 0))


def cancel(tracking_uri: str | None, ref: str) -> dict[str, Any]:
    """Stop a sweep: unstarted trials KILLED, running ones signalled (they record KILLED)."""
    store = _store(tracking_uri)
    sweep = find_sweep(store, ref)
    host = os.uname().nodename
    signalled = 0
    for pid_host in [store.run_owner(sweep.run_id)] + [
        store.run_owner(r)
        for r in store.tagged("mlrun.sweep.id", sweep.run_id)
        if store.get_run(r).status == RUNNING
    ]:
        pid, h = pid_host
        if pid and h == host and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
                signalled += 1
    now = int(time.time() * 1000)
    for rid in store.tagged("mlrun.sweep.id", sweep.run_id):
        if store.get_run(rid).status == SCHEDULED:
            store.set_terminated(rid, KILLED, now, None)
    if store.get_run(sweep.run_id).status == RUNNING:
        store.set_terminated(sweep.run_id, KILLED, now, None)
    return {"schema": "mlrun.sweep-cancel/1", "sweep": sweep.run_id, "signalled": signalled}


class _Tpe:
    """Bayesian search with optuna's TPE: ask in the runner, tell from the store's history."""

    def __init__(self, store: SqliteStore, sweep_id: str, spec: Mapping[str, Any]) -> None:
        import optuna

        from mlrun_cli.sweeps.grammar import parse

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.store = store
        self.metric = spec.get("metric")
        if not self.metric:
            raise ParameterError("--method tpe needs --metric NAME to optimise")
        self.direction: Literal["minimize", "maximize"] = (
            "minimize" if spec.get("goal") == "minimize" else "maximize"
        )
        self.constants: dict[str, str] = {}
        self.dists: dict[str, Any] = {}
        for name, text in (spec.get("params") or {}).items():
            d = parse(name, text, name in (spec.get("literal") or []))
            if d.kind == "constant":
                self.constants[name] = d.values[0]
            elif d.dist in ("uniform", "loguniform"):
                self.dists[name] = optuna.distributions.FloatDistribution(
                    d.low, d.high, log=d.dist == "loguniform"
                )
            elif d.dist == "randint":
                self.dists[name] = optuna.distributions.IntDistribution(int(d.low), int(d.high))
            else:
                self.dists[name] = optuna.distributions.CategoricalDistribution(list(d.values))
        self._asked: dict[str, Any] = {}  # run id -> the optuna trial asked for it
        # The study is rebuilt from the store, so a resumed sweep continues where it stopped.
        self.study = optuna.create_study(
            direction=self.direction,
            sampler=optuna.samplers.TPESampler(seed=int(spec.get("seed") or 0)),
        )
        for rid in store.tagged("mlrun.sweep.id", sweep_id):
            self.tell(store.get_run(rid))

    def ask(self, run_id: str) -> None:
        trial = self.study.ask(self.dists)
        params = {**self.constants, **{k: str(v) for k, v in trial.params.items()}}
        self.store.log_batch(
            run_id, params=params, tags={"mlrun.sweep.tpe_number": str(trial.number)}
        )
        self._asked[run_id] = trial

    def tell(self, run: Run) -> None:
        asked = self._asked.pop(run.run_id, None)
        value = run.metrics.get(self.metric) if self.metric else None
        if run.status != FINISHED or value is None:
            if asked is not None:
                self.study.tell(asked, state=self.optuna.trial.TrialState.FAIL)
            return
        if asked is not None:
            self.study.tell(asked, value.value)
            return
        try:
            params = {
                k: self.dists[k].to_external_repr(
                    self.dists[k].to_internal_repr(
                        int(run.params[k])
                        if isinstance(self.dists[k], self.optuna.distributions.IntDistribution)
                        else float(run.params[k])
                        if isinstance(self.dists[k], self.optuna.distributions.FloatDistribution)
                        else run.params[k]
                    )
                )
                for k in self.dists
            }
        except (KeyError, ValueError):
            return
        self.study.add_trial(
            self.optuna.trial.create_trial(
                params=params, distributions=self.dists, value=value.value
            )
        )
