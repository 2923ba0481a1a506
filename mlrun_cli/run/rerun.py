"""Reproduce a recorded run: same source at the same commit, the same uncommitted changes,
the same entry point and parameters, and the same package versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

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
    )


def _project_dir(project_path: str | None) -> str | None:
    if not project_path:
        return None
    parent = PurePosixPath(project_path).parent
    return None if str(parent) in (".", "") else str(parent)


def untracked_warning(store: Store, run: Run) -> str | None:
    count = int(run.tags.get("mlrun.git.untracked", "0") or 0)
    if count:
        return (
            f"run {run.run_id} had {count} untracked file(s) (listed in its artifact "
            "source/untracked.txt); they are not part of the reproduction"
        )
    return None
