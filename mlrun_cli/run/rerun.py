"""Reproduce a recorded run: same source at the same commit, the same uncommitted changes,
the same entry point and parameters, and the same package versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from mlrun_cli import tags as T
from mlrun_cli.envs import Environment
from mlrun_cli.errors import TrackingError
from mlrun_cli.run.request import RunRequest
from mlrun_cli.store.base import Run, Store


def rerun_request(
    store: Store,
    run_id: str,
    *,
    overrides: Mapping[str, str],
    env_manager: str | None,
    tracking_uri: str | None,
    as_json: bool,
) -> RunRequest:
    """A RunRequest that reproduces run `run_id` of `store`."""
    from mlrun_cli.sources.git import find_git_root

    run = store.get_run(run_id)
    tags = run.tags
    commit = tags.get("mlflow.source.git.commit")
    if not commit:
        raise TrackingError(
            f"run {run.run_id} has no recorded git commit (it did not run from a git "
            "repository), so it cannot be reproduced exactly"
        )
    sub = _project_dir(tags.get("mlrun.project.path"))
    local = tags.get("mlrun.source.local_repo")
    remote = tags.get("mlflow.source.git.repoURL")
    if local and Path(local).is_dir() and find_git_root(Path(local)) is not None:
        base = local
    elif remote:
        base = remote
    elif local:
        raise TrackingError(
            f"run {run.run_id} came from the repository {local}, which no longer exists, and "
            "recorded no remote URL; restore the repository to rerun it"
        )
    else:
        raise TrackingError(f"run {run.run_id} recorded no repository to fetch {commit} from")
    uri = f"{base}#{sub}" if sub else base
    try:
        given = json.loads(tags.get("mlrun.params.given") or "{}")
    except ValueError:
        given = {}
    if not isinstance(given, dict):
        given = {}
    params = {**{str(k): str(v) for k, v in given.items()}, **overrides}
    manager = env_manager or tags.get("mlflow.project.env") or None
    artifacts = store.artifact_dir(run.run_id)
    frozen = artifacts / "environment" / "requirements.frozen.txt"
    patch = None
    if tags.get("mlrun.git.dirty") == "true":
        patch_file = artifacts / "source" / "uncommitted.patch"
        if not patch_file.is_file():
            raise TrackingError(
                f"run {run.run_id} ran with uncommitted changes but its patch artifact "
                f"{patch_file} is missing; it cannot be reproduced exactly"
            )
        patch = patch_file.read_bytes()
    return RunRequest(
        uri=uri,
        entry_point=tags.get("mlflow.project.entryPoint", "main"),
        params=params,
        experiment_id=run.experiment_id,
        env_manager=manager,
        tracking_uri=tracking_uri,
        json=as_json,
        frozen_requirements=frozen if frozen.is_file() and manager != "local" else None,
        version=commit,
        patch=patch,
        extra_tags={"mlrun.rerun_of": run.run_id},
        **_container_fields(tags, manager),
    )


def _container_fields(tags: Mapping[str, str], manager: str | None) -> dict[str, Any]:
    """A run in docker runs again in the same image (its id), built the same way, with the
    same extra docker options."""
    from mlrun_cli import tags as T

    if manager != "docker" or not tags.get(T.DOCKER_IMAGE_ID):
        return {}
    try:
        docker_args = tuple(str(a) for a in json.loads(tags.get(T.DOCKER_ARGS) or "[]"))
    except (ValueError, TypeError):
        docker_args = ()
    return {
        "docker_image_id": tags[T.DOCKER_IMAGE_ID],
        "build_image": tags.get(T.DOCKER_BUILD_IMAGE) == "true",
        "docker_args": docker_args,
    }


def _project_dir(project_path: str | None) -> str | None:
    if not project_path:
        return None
    parent = PurePosixPath(project_path).parent
    return None if str(parent) in (".", "") else str(parent)


def rebuild_reason(original: Run, env: Environment, manager: str, frozen: bool) -> str | None:
    """Why a rerun built its environment instead of reusing one, in a few words; None when it
    reused one (or the command runs in the current environment)."""
    if env.reused or env.key is None:
        return None
    short = original.run_id[:8]
    used = original.tags.get(T.PROJECT_ENV)
    if used and used != manager:
        return f"run {short} used {used}; this rerun uses {manager}"
    before = original.tags.get(T.ENV_PYTHON)
    if before and env.python_version and before != env.python_version:
        return f"run {short} ran on python {before}, which is not available; using {env.python_version}"
    if original.tags.get(T.ENV_KEY) == env.key:
        return f"the environment run {short} ran in ({env.key}) is gone from the cache"
    if frozen:
        return (
            f"no cached environment has exactly the packages run {short} recorded "
            "(requirements.frozen.txt); it is built once, later reruns reuse it"
        )
    return f"its inputs changed since run {short} ({original.tags.get(T.ENV_KEY)} -> {env.key})"


def untracked_warning(store: Store, run: Run) -> str | None:
    count = int(run.tags.get("mlrun.git.untracked", "0") or 0)
    if count:
        return (
            f"run {run.run_id} had {count} untracked file(s) (listed in its artifact "
            "source/untracked.txt); they are not part of the reproduction"
        )
    return None
