"""One run, start to finish: source, project, params, env, tracking, execute, finish."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlrun_cli import console
from mlrun_cli.envs import Environment, default_manager, get_manager
from mlrun_cli.envs.cache import BuildInterrupted
from mlrun_cli.errors import MlrunError, ProjectError, SourceError
from mlrun_cli.project.mlproject import DEFAULT_ENTRY_POINT, EntryPoint, Project, load_project
from mlrun_cli.project.params import ResolvedParams, render_command, resolve
from mlrun_cli.sources.resolve import Source, apply_patch, resolve_source
from mlrun_cli.store import open_store, resolve_tracking_uri
from mlrun_cli.store.base import (
    DEFAULT_EXPERIMENT_ID,
    FAILED,
    FINISHED,
    KILLED,
    NewRun,
    Store,
)
from mlrun_cli.store.sqlite.store import SqliteStore

OUTPUT_LOG = "mlrun-output.log"
EVENTS_FILE = "events.jsonl"


@dataclass(frozen=True)
class RunRequest:
    uri: str
    entry_point: str = DEFAULT_ENTRY_POINT
    params: Mapping[str, str] = field(default_factory=dict)
    experiment_name: str | None = None
    experiment_id: str | None = None
    run_name: str | None = None
    env_manager: str | None = None
    tracking_uri: str | None = None
    json: bool = False
    frozen_requirements: Path | None = None  # exact pins to install instead (rerun)
    version: str | None = None  # branch, tag or commit of a git source
    require_clean: bool = False
    patch: bytes | None = None  # uncommitted changes to re-apply on the checkout (rerun)
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    capture_metrics: bool = False
    capture_pattern: str | None = None
    mlflow_endpoint: bool = True  # serve a loopback MLflow endpoint (embedded store only)
    adopt_run_id: str | None = None  # execute this already-created run (a sweep's trial)


@dataclass(frozen=True)
class Plan:
    """Everything resolved before anything runs (what --dry-run prints)."""

    source: Source
    project: Project
    entry: EntryPoint
    params: ResolvedParams
    command: str
    env_manager: str
    given: Mapping[str, str] = field(default_factory=dict)  # what the user passed (paths resolved)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project_dir": str(self.project.dir),
            "entry_point": self.entry.name,
            "params": self.params.all,
            "command": self.command,
            "env_manager": self.env_manager,
        }


@dataclass(frozen=True)
class RunResult:
    run_id: str
    experiment_id: str
    status: str
    exit_code: int
    command: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    env: Environment
    tracking_uri: str
    timings: Mapping[str, float]


def plan(req: RunRequest) -> Plan:
    """Resolve source, project, entry point, parameters, command and env manager.

    A checkout made for the source is removed again if planning fails; otherwise the caller
    owns it (`Plan.source.cleanup()`).
    """
    source = resolve_source(req.uri, req.version)
    try:
        return _plan(req, source)
    except BaseException:
        source.cleanup()
        raise


def _plan(req: RunRequest, source: Source) -> Plan:
    if req.capture_pattern:
        from mlrun_cli.run.capture import MetricCapture

        MetricCapture(req.capture_pattern)  # a bad pattern is bad input: fail before recording
    if req.patch:
        source = apply_patch(source, req.patch)
    if req.require_clean and source.git is not None and source.git.dirty:
        raise SourceError(
            f"{source.git.root or source.dir} has uncommitted changes to tracked files and "
            "--require-clean was given; commit or stash them"
        )
    project = load_project(source.dir)
    entry = project.entry_point(req.entry_point)
    params = resolve(entry, req.params, project_dir=project.dir)
    command = render_command(entry, params)
    manager = req.env_manager or default_manager(project)
    if project.env.kind == "docker_env" and req.env_manager is None:
        raise ProjectError(
            f"{project.file}: docker_env projects are not run in docker by mlrun; pass "
            "--env-manager local to run the command in the current environment"
        )
    get_manager(manager)  # an unknown name fails here, before anything is recorded
    given = {
        k: params.declared.get(k, v)
        if k in entry.parameters and entry.parameters[k].type.strip().lower() == "path"
        else v
        for k, v in req.params.items()
    }
    return Plan(source, project, entry, params, command, manager, given)


def _say_once_local(project_dir: Path) -> None:
    """Tell once per project that it declares no environment and runs in the current one."""
    import hashlib

    from mlrun_cli.paths import tool_path

    marker = (
        tool_path("cache") / "told" / hashlib.sha256(str(project_dir).encode()).hexdigest()[:24]
    )
    if marker.exists():
        return
    console.info(
        f"{project_dir} declares no environment (python_env.yaml or conda.yaml); running in "
        "the current environment (said once per project)"
    )
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass


def _experiment_id(store: Store, req: RunRequest) -> str:
    if req.experiment_id is not None:
        return store.get_experiment(req.experiment_id).experiment_id
    name = req.experiment_name or os.environ.get("MLRUN_EXPERIMENT_NAME")
    if name:
        found = store.get_experiment_by_name(name)
        return (found or store.create_experiment(name)).experiment_id
    env_id = os.environ.get("MLRUN_EXPERIMENT_ID")
    if env_id:
        return store.get_experiment(env_id).experiment_id
    return DEFAULT_EXPERIMENT_ID


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return os.environ.get("USER") or "unknown"


def _tags(p: Plan, manager: str, user: str, run_name: str) -> dict[str, str]:
    import json

    local = p.source.checkout is None and p.source.local_repo is None and p.source.git is None
    tags = {
        "mlflow.source.name": str(p.source.dir) if local else p.source.uri,
        "mlflow.source.type": "PROJECT",
        "mlflow.project.entryPoint": p.entry.name,
        "mlflow.project.env": manager,
        "mlflow.project.backend": "local",
        "mlflow.user": user,
        "mlflow.runName": run_name,
    }
    tags["mlrun.params.given"] = json.dumps(dict(p.given), sort_keys=True)
    if p.source.version:
        tags["mlrun.source.version"] = p.source.version
    if p.source.local_repo is not None:
        tags["mlrun.source.local_repo"] = str(p.source.local_repo)
    git = p.source.git
    if git is not None:
        tags["mlflow.source.git.commit"] = git.commit
        if git.branch:
            tags["mlflow.source.git.branch"] = git.branch
        if git.remote_url:
            tags["mlflow.source.git.repoURL"] = git.remote_url
        tags["mlrun.git.dirty"] = "true" if git.dirty else "false"
        tags["mlrun.git.untracked"] = str(len(git.untracked))
        mlproject = p.project.file.name if p.project.file else ""
        tags["mlrun.project.path"] = str(PurePosixPath(git.project_path) / mlproject)
    return tags


def _record_source(p: Plan, artifacts: Path) -> None:
    """The patch of uncommitted changes and the list of untracked files, as artifacts."""
    git = p.source.git
    if git is None or not (git.patch or git.untracked):
        return
    folder = artifacts / "source"
    folder.mkdir(parents=True, exist_ok=True)
    if git.patch:
        (folder / "uncommitted.patch").write_bytes(git.patch)
    if git.untracked:
        (folder / "untracked.txt").write_text("\n".join(git.untracked) + "\n")


def _env_tags(env: Environment) -> dict[str, str]:
    tags = {}
    if env.key:
        tags["mlrun.env.key"] = env.key
    if env.python_version:
        tags["mlrun.env.python"] = env.python_version
    return tags


def child_environment(
    base: Mapping[str, str],
    *,
    run_id: str,
    experiment_id: str,
    tracking_uri: str,
    run_dir: Path,
    artifact_dir: Path,
    env: Environment,
) -> dict[str, str]:
    """The child's environment: ours, the env's PATH, and the tracking context."""
    from mlrun_cli.run.child import helper_path

    child = dict(base)
    if env.bin_dir is not None:
        child["PATH"] = f"{env.bin_dir}{os.pathsep}{child.get('PATH', '')}"
        child["VIRTUAL_ENV"] = str(env.bin_dir.parent)
        child.pop("PYTHONHOME", None)
    child.update(env.extra_env)
    pythonpath = [p for p in child.get("PYTHONPATH", "").split(os.pathsep) if p]
    child["PYTHONPATH"] = os.pathsep.join([*pythonpath, str(helper_path())])
    # Output is streamed through pipes; unbuffered Python keeps it live, as on a terminal.
    child.setdefault("PYTHONUNBUFFERED", "1")
    child.update(
        {
            "MLRUN_RUN_ID": run_id,
            "MLRUN_EXPERIMENT_ID": experiment_id,
            "MLRUN_TRACKING_URI": tracking_uri,
            "MLRUN_EVENTS_FILE": str(run_dir / EVENTS_FILE),
            "MLRUN_ARTIFACT_DIR": str(artifact_dir),
        }
    )
    return child


def point_mlflow(
    child: dict[str, str],
    *,
    endpoint_env: Mapping[str, str] | None = None,
    server_uri: str | None = None,
    run_id: str = "",
    experiment_id: str = "",
) -> None:
    """Where the child's mlflow client logs: our loopback endpoint, or an MLflow server on
    which it resumes our run directly."""
    if endpoint_env is not None:
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            child.pop(var, None)  # basic auth would win over the endpoint's token
        child.update(endpoint_env)
    elif server_uri is not None:
        child.update(
            {
                "MLFLOW_TRACKING_URI": server_uri,
                "MLFLOW_RUN_ID": run_id,
                "MLFLOW_EXPERIMENT_ID": experiment_id,
            }
        )


def execute_run(req: RunRequest, p: Plan | None = None) -> RunResult:
    """Run `req` and record it. Returns when the child has ended and the run is recorded."""
    from mlrun_cli.backends.local import SignalRelay, execute
    from mlrun_cli.store.events import EventReader, drainer

    t0 = time.monotonic()
    # Signals are caught from the start: a Ctrl-C while the env builds or the run is being
    # created must still end in a recorded, non-RUNNING run.
    relay = SignalRelay()
    relay.install()
    try:
        p = p or plan(req)
        uri = resolve_tracking_uri(req.tracking_uri)
        store = open_store(uri)
        experiment_id = _experiment_id(store, req)
        user = _user()
        run_id = req.adopt_run_id or os.urandom(16).hex()
        run_name = req.run_name or f"{p.entry.name}-{run_id[:8]}"
        tags = {**_tags(p, p.env_manager, user, run_name), **req.extra_tags}
        if req.adopt_run_id is not None and isinstance(store, SqliteStore):
            # A sweep created this run SCHEDULED and claimed it; this process now holds it.
            store.adopt_run(
                run_id, os.getpid(), os.uname().nodename, int(time.time() * 1000), p.command
            )
            tags.pop("mlflow.runName", None)
            store.log_batch(run_id, params=p.params.all, tags=tags)
        else:
            run_id = store.create_run(
                NewRun(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    name=run_name,
                    user=user,
                    command=p.command,
                    params=p.params.all,
                    tags=tags,
                    start_time=int(time.time() * 1000),
                    pid=os.getpid(),
                    host=os.uname().nodename,
                )
            ).run_id  # a server store assigns its own id
        status, exit_code = FAILED, 1
        endpoint = None
        try:
            _record_source(p, store.artifact_dir(run_id))
            t_env = time.monotonic()
            if req.env_manager is None and p.project.env.kind == "none":
                _say_once_local(p.project.dir)
            try:
                env = get_manager(p.env_manager).prepare(
                    p.project,
                    frozen=req.frozen_requirements,
                    cancelled=lambda: relay.received is not None,
                )
            except BuildInterrupted:
                signum = relay.received or 2
                status, exit_code = KILLED, 128 + signum
                raise Interrupted(signum, "while the environment was being built") from None
            t_env = time.monotonic() - t_env
            if env_tags := _env_tags(env):
                store.log_batch(run_id, tags=env_tags)
            if env.freeze_file is not None and env.freeze_file.is_file():
                frozen_copy = store.artifact_dir(run_id) / "environment"
                frozen_copy.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(env.freeze_file, frozen_copy / "requirements.frozen.txt")
            if relay.received is not None:
                status, exit_code = KILLED, 128 + relay.received
                raise Interrupted(relay.received)
            run_dir = store.run_dir(run_id)
            artifacts = store.artifact_dir(run_id)
            events = EventReader(run_dir / EVENTS_FILE, p.project.dir)
            capture = None
            if req.capture_metrics or req.capture_pattern:
                from mlrun_cli.run.capture import MetricCapture

                capture = MetricCapture(req.capture_pattern)

            drain = drainer(events, run_id, store.log_batch, artifacts, capture)

            child_env = child_environment(
                os.environ,
                run_id=run_id,
                experiment_id=experiment_id,
                tracking_uri=str(getattr(store, "shown", store.uri)),
                run_dir=run_dir,
                artifact_dir=artifacts,
                env=env,
            )
            if req.mlflow_endpoint and isinstance(store, SqliteStore):
                from mlrun_cli.store.endpoint.server import Endpoint

                # Bound now, served from a thread: the child needs a second or more to import
                # mlflow, so serving costs nothing on the critical path.
                endpoint = Endpoint(store.root, run_id, experiment_id, user)
                endpoint.start()
                point_mlflow(child_env, endpoint_env=endpoint.child_env())
            elif not isinstance(store, SqliteStore):
                point_mlflow(
                    child_env,
                    server_uri=str(getattr(store, "shown", store.uri)),
                    run_id=run_id,
                    experiment_id=experiment_id,
                )
            console.detail(f"run {run_id}: {p.command}")
            outcome = execute(
                p.command,
                cwd=p.project.dir,
                env=child_env,
                log_path=artifacts / OUTPUT_LOG,
                relay=relay,
                on_tick=drain,
                stdout=sys.stderr.buffer if req.json else None,
                on_output=capture.feed if capture is not None else None,
            )
            if capture is not None:
                capture.flush()
            drain()
            exit_code = outcome.exit_code
            status = outcome.status(endpoint.child_status if endpoint is not None else None)
        finally:
            if endpoint is not None:
                endpoint.stop()
                _end_nested(store, endpoint.owned - {run_id}, status)
            upload = getattr(store, "upload_artifacts", None)
            if upload is not None:
                upload(run_id)
            # Whatever happened above, the run does not stay RUNNING.
            store.set_terminated(run_id, status, int(time.time() * 1000), exit_code)
        try:
            run = store.get_run(run_id)
            params, metrics = dict(run.params), {k: m.value for k, m in run.metrics.items()}
        except MlrunError:
            # A server store that went away: what the run recorded is spooled; report it anyway.
            params, metrics = dict(p.params.all), {}
        return RunResult(
            run_id=run_id,
            experiment_id=experiment_id,
            status=status,
            exit_code=exit_code,
            command=p.command,
            params=params,
            metrics=metrics,
            env=env,
            tracking_uri=str(getattr(store, "shown", store.uri)),
            timings={"env_s": round(t_env, 3), "total_s": round(time.monotonic() - t0, 3)},
        )
    finally:
        relay.restore()
        if p is not None:
            p.source.cleanup()


def _end_nested(store: Store, run_ids: set[str], status: str) -> None:
    """Nested runs the child created and left RUNNING end with their parent's status."""
    for rid in run_ids:
        run = store.get_run(rid)
        if run.status not in (FINISHED, FAILED, KILLED):
            store.set_terminated(rid, status, int(time.time() * 1000), None)


class Interrupted(MlrunError):
    """mlrun was interrupted before a child started; exit 128 + the signal."""

    def __init__(self, signum: int, when: str = "before the command started") -> None:
        super().__init__(f"interrupted {when}; the run is recorded KILLED")
        self.exit_code = 128 + signum
