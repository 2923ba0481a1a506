"""One run as its page shows it: fields, params, metrics, tags, provenance, artifacts, logged
models, child runs; the tail of its output log; the models of the store."""

from __future__ import annotations

from pathlib import Path

from mlrun_cli import tags as T
from mlrun_cli.paths import OUTPUT_LOG
from mlrun_cli.store.artifacts import list_artifacts
from mlrun_cli.store.base import RunIndex

LOG_TAIL = 64 * 1024  # the first view of a log: its last 64 KiB
LOG_CHUNK = 256 * 1024  # at most this much new output per poll
ARTIFACTS_LISTED = 2_000
MODELS_LISTED = 1_000
VERSIONS_LISTED = 10_000

# (label, tag) in the order the provenance table shows them
PROVENANCE = (
    ("source", T.SOURCE_NAME),
    ("source type", T.SOURCE_TYPE),
    ("version", T.SOURCE_VERSION),
    ("repository", T.GIT_REPO_URL),
    ("commit", T.GIT_COMMIT),
    ("branch", T.GIT_BRANCH),
    ("uncommitted changes", T.GIT_DIRTY),
    ("untracked files", T.GIT_UNTRACKED),
    ("project file", T.PROJECT_PATH),
    ("entry point", T.ENTRY_POINT),
    ("parameters given", T.PARAMS_GIVEN),
    ("environment manager", T.PROJECT_ENV),
    ("environment", T.ENV_KEY),
    ("python", T.ENV_PYTHON),
    ("backend", T.PROJECT_BACKEND),
    ("job", T.JOB_ID),
    ("rerun of", T.RERUN_OF),
)
PATCH = "source/uncommitted.patch"  # written by run.provenance.record_source
PACKAGES = "environment/requirements.frozen.txt"  # written by run.provenance.record_env


def run_detail(index: RunIndex, run_id: str) -> dict[str, object]:
    """Everything the run page shows, in one answer."""
    run = index.get_run(run_id)
    artifacts = list_artifacts(index, run_id)
    provenance = [[label, run.tags[key]] for label, key in PROVENANCE if run.tags.get(key)]
    command = run.command or run.tags.get(T.COMMAND)
    if command:
        provenance.append(["command", command])
    paths = {str(a["path"]) for a in artifacts}
    children = index.tagged(T.PARENT_RUN, run_id)
    return {
        "run": {
            "id": run.run_id,
            "name": run.name,
            "status": run.status,
            "start": run.start_time,
            "end": run.end_time,
            "exit_code": run.exit_code,
            "user": run.user,
            "experiment": run.experiment_id,
            "stage": run.lifecycle_stage,
            "artifact_uri": run.artifact_uri,
            "parent": run.tags.get(T.PARENT_RUN),
            "sweep": T.SWEEP in run.tags or bool(index.tagged(T.SWEEP_ID, run_id)),
        },
        "params": dict(run.params),
        "metrics": {
            k: {"value": m.value, "step": m.step, "timestamp": m.timestamp}
            for k, m in sorted(run.metrics.items())
        },
        "tags": dict(sorted(run.tags.items())),
        "provenance": provenance,
        "patch": PATCH if PATCH in paths else None,
        "packages": PACKAGES if PACKAGES in paths else None,
        "artifacts": artifacts[:ARTIFACTS_LISTED],
        "artifacts_total": len(artifacts),
        "models": index.run_models(run_id),
        "inputs": index.run_inputs(run_id),
        "children": index.run_table([], (), True, children) if children else None,
    }


def log_tail(index: RunIndex, run_id: str, offset: int | None) -> dict[str, object]:
    """The run's output from `offset` (its last 64 KiB without one): the text, where the
    next poll starts, the file's size, and the run's status (a poll stops once it ended)."""
    path: Path = index.artifact_dir(run_id) / OUTPUT_LOG
    status = index.get_run(run_id).status
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - LOG_TAIL) if offset is None else min(max(0, offset), size)
            f.seek(start)
            data = f.read(LOG_CHUNK)
    except FileNotFoundError:
        return {"text": "", "offset": 0, "size": 0, "start": 0, "status": status, "exists": False}
    return {
        "text": data.decode("utf-8", "replace"),
        "start": start,
        "offset": start + len(data),
        "size": size,
        "status": status,
        "exists": True,
    }


def models(index: RunIndex) -> dict[str, object]:
    """The store's model registry: each registered model with its versions, newest first."""
    registry = index.registry()
    found = registry.search_registered_models(max_results=MODELS_LISTED)
    versions: dict[str, list[dict[str, object]]] = {}
    for v in registry.search_model_versions(None, max_results=VERSIONS_LISTED):
        versions.setdefault(str(v.get("name")), []).append(v)
    for model in found:
        mine = versions.get(str(model.get("name")), [])
        model["versions"] = sorted(mine, key=lambda v: -int(str(v.get("version") or 0)))
    return {"registry": found}
