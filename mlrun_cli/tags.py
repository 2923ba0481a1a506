"""Every tag key the tool writes or reads, in one place.

Keys under ``mlflow.`` are MLflow's own system tags (its UI and client read them); keys under
``mlrun.`` are ours. Runs recorded by older versions may carry keys listed under LEGACY.
"""

from __future__ import annotations

from collections.abc import Mapping

# MLflow's system tags
RUN_NAME = "mlflow.runName"
USER = "mlflow.user"
PARENT_RUN = "mlflow.parentRunId"
SOURCE_NAME = "mlflow.source.name"
SOURCE_TYPE = "mlflow.source.type"
GIT_COMMIT = "mlflow.source.git.commit"
GIT_BRANCH = "mlflow.source.git.branch"
GIT_REPO_URL = "mlflow.source.git.repoURL"
ENTRY_POINT = "mlflow.project.entryPoint"
PROJECT_ENV = "mlflow.project.env"
PROJECT_BACKEND = "mlflow.project.backend"
DATA_CONTEXT = "mlflow.data.context"

# Provenance
PARAMS_GIVEN = "mlrun.params.given"
SOURCE_VERSION = "mlrun.source.version"
SOURCE_LOCAL_REPO = "mlrun.source.local_repo"
PROJECT_PATH = "mlrun.project.path"
GIT_DIRTY = "mlrun.git.dirty"
GIT_UNTRACKED = "mlrun.git.untracked"
ENV_KEY = "mlrun.env.key"
ENV_PYTHON = "mlrun.env.python"
RERUN_OF = "mlrun.rerun_of"

# A run in a container (docker_env): MLflow's image tags, and ours
DOCKER_IMAGE_URI = "mlflow.docker.image.uri"
DOCKER_IMAGE_ID = "mlflow.docker.image.id"
DOCKER_IMAGE_DIGEST = "mlrun.docker.image.digest"
DOCKER_BASE_IMAGE_ID = "mlrun.docker.base_image.id"  # what a --build-image image was built from
DOCKER_BUILD_IMAGE = "mlrun.docker.build_image"
DOCKER_ARGS = "mlrun.docker.args"  # --docker-args, as JSON
CONTAINER_ENGINE = "mlrun.container.engine"

# What an MLflow server has no field for
COMMAND = "mlrun.command"
EXIT_CODE = "mlrun.exit_code"

# A run re-created by `mlrun store repair` from a run folder without its record
RECOVERED = "mlrun.recovered"

# A run whose runner or job vanished
LOST = "mlrun.lost"
LOST_REASON = "mlrun.lost.reason"

# Sweeps: the sweep run carries SWEEP, its trials SWEEP_ID and SWEEP_INDEX
SWEEP = "mlrun.sweep"
SWEEP_ID = "mlrun.sweep.id"
SWEEP_INDEX = "mlrun.sweep.index"
SWEEP_COUNT = "mlrun.sweep.count"
SWEEP_BACKEND = "mlrun.sweep.backend"
SWEEP_HASH = "mlrun.sweep.hash"
SWEEP_SEED = "mlrun.sweep.seed"
SWEEP_METHOD = "mlrun.sweep.method"
SWEEP_METRIC = "mlrun.sweep.metric"
SWEEP_GOAL = "mlrun.sweep.goal"
SWEEP_BEST_RUN = "mlrun.sweep.best_run"
SWEEP_LINKED_RUN = "mlrun.sweep.linked_run"
SWEEP_TPE_NUMBER = "mlrun.sweep.tpe_number"

# A run submitted to a cluster backend: the job that performs it, whichever the backend
JOB_ID = "mlrun.job.id"
JOB_SUBMIT_TIME = "mlrun.job.submit_time"
JOB_NAME = "mlrun.job.name"
JOB_REASON = "mlrun.job.reason"
JOB_RESTARTS = "mlrun.job.restarts"
JOB_STATE = "mlrun.job.state"  # the scheduler's own word for the job's state
JOB_NODE = "mlrun.job.node"

# Keys written by earlier versions, read as the key they stand for (nothing recorded is lost)
LEGACY: dict[str, str] = {
    "mlrun.slurm.job_id": JOB_ID,
    "mlrun.slurm.submit_time": JOB_SUBMIT_TIME,
    "mlrun.slurm.job_name": JOB_NAME,
    "mlrun.slurm.reason": JOB_REASON,
    "mlrun.slurm.restarts": JOB_RESTARTS,
    "mlrun.slurm.state": JOB_STATE,
    "mlrun.slurm.node": JOB_NODE,
}
LEGACY_OF: dict[str, str] = {new: old for old, new in LEGACY.items()}


def job_tag(tags: Mapping[str, str], key: str) -> str | None:
    """The value of job tag `key` in `tags`, or of its legacy key on runs recorded before."""
    value = tags.get(key)
    if value is None and key in LEGACY_OF:
        value = tags.get(LEGACY_OF[key])
    return value
