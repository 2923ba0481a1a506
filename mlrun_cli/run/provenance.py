"""What a run records about itself before its command starts: where the code came from, who
ran it, which entry point, parameters and environment. Local runs and submitted runs record
the same provenance through `create_record`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path, PurePosixPath

from mlrun_cli import tags as T
from mlrun_cli.envs import Environment
from mlrun_cli.run.request import Plan, RunRequest
from mlrun_cli.store.base import DEFAULT_EXPERIMENT_ID, RUNNING, NewRun, Store
from mlrun_cli.values import valueclass


@valueclass
class Record:
    """A run as created in the store."""

    run_id: str
    experiment_id: str
    user: str


def experiment_id(store: Store, req: RunRequest) -> str:
    """The experiment a run records into: --experiment-id, --experiment-name (created if
    missing), MLRUN_EXPERIMENT_NAME, MLRUN_EXPERIMENT_ID, else the default experiment."""
    if req.experiment_id is not None:
        return store.get_experiment(req.experiment_id).experiment_id
    name = req.experiment_name or os.environ.get("MLRUN_EXPERIMENT_NAME")
    if name:
        found = store.get_experiment_by_name(name)
        return (found or store.create_experiment(name)).experiment_id
    env_id = os.environ.get("MLRUN_EXPERIMENT_ID")
    if env_id:
        return store.get_experiment(env_id).experiment_id
    from mlrun_cli.config import configured

    name = configured("experiment_name")  # the project's or the user's config file
    if name:
        found = store.get_experiment_by_name(name)
        return (found or store.create_experiment(name)).experiment_id
    return DEFAULT_EXPERIMENT_ID


def current_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return os.environ.get("USER") or "unknown"


def run_tags(p: Plan, user: str, run_name: str, backend: str = "local") -> dict[str, str]:
    """The provenance tags of a run of plan `p` (a run's first record: what cannot be
    submitted to `backend` is refused here, before anything is recorded)."""
    if backend != "local" and p.env_manager == "docker":
        from mlrun_cli.errors import EnvError

        raise EnvError(
            f"{p.project.file or p.project.dir}: a docker_env project runs in docker only on "
            f"this machine; the {backend} backend starts no containers for its jobs; run it "
            "without --backend, or with --env-manager local to run the command in the job's "
            "environment"
        )
    local = p.source.checkout is None and p.source.local_repo is None and p.source.git is None
    tags = {
        T.SOURCE_NAME: str(p.source.dir) if local else p.source.uri,
        T.SOURCE_TYPE: "PROJECT",
        T.ENTRY_POINT: p.entry.name,
        T.PROJECT_ENV: p.env_manager,
        T.PROJECT_BACKEND: backend,
        T.USER: user,
        T.RUN_NAME: run_name,
    }
    tags[T.PARAMS_GIVEN] = json.dumps(dict(p.given), sort_keys=True)
    if p.source.version:
        tags[T.SOURCE_VERSION] = p.source.version
    if p.source.local_repo is not None:
        tags[T.SOURCE_LOCAL_REPO] = str(p.source.local_repo)
    git = p.source.git
    if git is not None:
        tags[T.GIT_COMMIT] = git.commit
        if git.branch:
            tags[T.GIT_BRANCH] = git.branch
        if git.remote_url:
            tags[T.GIT_REPO_URL] = git.remote_url
        tags[T.GIT_DIRTY] = "true" if git.dirty else "false"
        tags[T.GIT_UNTRACKED] = str(len(git.untracked))
        mlproject = p.project.file.name if p.project.file else ""
        tags[T.PROJECT_PATH] = str(PurePosixPath(git.project_path) / mlproject)
    return tags


def record_source(p: Plan, artifacts: Path) -> None:
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


def env_tags(env: Environment) -> dict[str, str]:
    tags = {}
    if env.key:
        tags[T.ENV_KEY] = env.key
    if env.python_version:
        tags[T.ENV_PYTHON] = env.python_version
    return tags


def record_env(store: Store, run_id: str, env: Environment) -> None:
    """The environment's tags, and its frozen package list as an artifact."""
    if tags := env_tags(env):
        store.log_batch(run_id, tags=tags)
    if env.freeze_file is not None and env.freeze_file.is_file():
        import shutil

        frozen_copy = store.artifact_dir(run_id) / "environment"
        frozen_copy.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(env.freeze_file, frozen_copy / "requirements.frozen.txt")


def create_record(
    store: Store,
    req: RunRequest,
    p: Plan,
    *,
    status: str = RUNNING,
    backend: str = "local",
    held_here: bool = True,
) -> Record:
    """Create the run for `req` (or take over the sweep trial it adopts), with its provenance
    tags; the caller records the source's files (`record_source`) once it owns the run's end.

    `held_here`: this process holds the run (its pid and host are the run's lease).
    """
    exp_id = experiment_id(store, req)
    user = current_user()
    run_id = req.adopt_run_id or os.urandom(16).hex()
    if req.run_name:
        run_name = req.run_name
    else:
        from mlrun_cli.names import memorable_name

        run_name = memorable_name()
    tags = {**run_tags(p, user, run_name, backend), **req.extra_tags}
    now = int(time.time() * 1000)
    index = store.index()
    if req.adopt_run_id is not None and index is not None:
        # A sweep created this run SCHEDULED and claimed it; this process now holds it.
        index.adopt_run(run_id, os.getpid(), os.uname().nodename, now, p.command)
        # A trial found lost before and run again is not lost any more.
        for key in (T.LOST, T.LOST_REASON):
            index.delete_tag(run_id, key)
        tags.pop(T.RUN_NAME, None)
        store.log_batch(run_id, params=p.recorded_params(), tags=tags)
        return Record(run_id, exp_id, user)
    run_id = store.create_run(
        NewRun(
            run_id=run_id,
            experiment_id=exp_id,
            name=run_name,
            user=user,
            command=p.command,
            params=p.recorded_params(),
            tags=tags,
            start_time=now,
            status=status,
            pid=os.getpid() if held_here else None,
            host=os.uname().nodename if held_here else None,
        )
    ).run_id  # a server store assigns its own id
    if status != RUNNING and store.server() is not None:
        store.set_status(run_id, status)  # MLflow creates runs RUNNING
    return Record(run_id, exp_id, user)
