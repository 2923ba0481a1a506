"""The tracking store Protocol, its value objects, and the choice of store by tracking URI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # the protocols below are for type checkers only

RUNNING = "RUNNING"
SCHEDULED = "SCHEDULED"
FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"
STATUSES = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
TERMINAL = (FINISHED, FAILED, KILLED)

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


@valueclass
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    creation_time: int | None = None


@valueclass
class Metric:
    key: str
    value: float
    step: int = 0
    timestamp: int = 0  # milliseconds since the epoch
    model_id: str | None = None  # MLflow 3 links a metric to a logged model and a dataset
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.value, float):
            object.__setattr__(self, "value", float(self.value))


@valueclass
class Run:
    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None
    end_time: int | None = None
    exit_code: int | None = None
    user: str | None = None
    command: str | None = None
    lifecycle_stage: str = "active"
    artifact_uri: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, Metric] = field(default_factory=dict)  # latest value per key


@valueclass
class NewRun:
    """What a store needs to create a run."""

    run_id: str
    experiment_id: str
    name: str
    user: str
    command: str
    params: Mapping[str, str]
    tags: Mapping[str, str]
    start_time: int
    status: str = RUNNING
    pid: int | None = None
    host: str | None = None


class ParamConflict(TrackingError):
    """A param was logged again with another value (MLflow's INVALID_PARAMETER_VALUE)."""


class RegistryError(TrackingError):
    """A registry request refused, with MLflow's error code (RESOURCE_DOES_NOT_EXIST,
    RESOURCE_ALREADY_EXISTS, INVALID_PARAMETER_VALUE)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Store(Protocol):
    """Where runs are recorded. Chosen by tracking URI with `mlrun_cli.store.open_store`.

    Every store has these operations. What only some stores can do is reached through
    `index()` (the embedded store's own run index) and `server()` (an MLflow server's
    extra operations), which return None where the store has no such capability: a caller
    says what it needs and mypy checks each call.
    """

    uri: str
    shown: str  # the URI as shown to people: no credentials

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    def create_experiment(self, name: str) -> Experiment: ...

    def list_experiments(self) -> list[Experiment]: ...

    def create_run(self, new: NewRun) -> Run: ...

    def log_batch(
        self,
        run_id: str,
        params: Mapping[str, str] = ...,
        metrics: Sequence[Metric] = ...,
        tags: Mapping[str, str] = ...,
    ) -> None: ...

    def set_terminated(
        self, run_id: str, status: str, end_time: int, exit_code: int | None
    ) -> None: ...

    def get_run(self, run_id: str) -> Run: ...

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        include_deleted: bool = False,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        offset: int = 0,
    ) -> list[Run]:
        """Runs matching MLflow's filter grammar, newest first unless `order_by` says."""
        ...

    def metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def run_dir(self, run_id: str) -> Path:
        """A local folder for the run: the events file, the output log, its artifacts."""
        ...

    def artifact_dir(self, run_id: str) -> Path: ...

    def set_status(self, run_id: str, status: str) -> None: ...

    def delete_tag(self, run_id: str, key: str) -> None: ...

    def set_lifecycle(self, run_id: str, stage: str) -> None: ...

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment: ...

    def resolve_run_id(self, ref: str) -> str:
        """The full id of the run `ref` names (a unique prefix where the store can tell)."""
        ...

    def index(self) -> RunIndex | None:
        """The embedded store's run index, or None (an MLflow server has no index of ours)."""
        ...

    def server(self) -> ServerStore | None:
        """An MLflow server's own operations, or None for the embedded store."""
        ...

    def registry(self) -> Registry:
        """The store's model registry (the embedded one, or the server's)."""
        ...

    def close(self) -> None: ...


class RunIndex(Store, Protocol):
    """What the embedded store can answer from its own index (SQLite) and nobody else can."""

    root: Path

    def create_runs(self, news: Sequence[NewRun]) -> None: ...

    def load_runs(self, ids: Sequence[str]) -> list[Run]: ...

    def tagged(self, key: str, value: str) -> list[str]:
        """Ids of the runs with tag `key` = `value`."""
        ...

    def active_with_tag(self, key: str, run_ids: Sequence[str] | None = None) -> list[str]:
        """Ids of SCHEDULED or RUNNING runs that have tag `key` (among `run_ids` if given)."""
        ...

    def any_active_with_tag(self, key: str) -> bool: ...

    def count_tagged_by_status(self, key: str, value: str) -> dict[str, int]:
        """How many runs with tag `key` = `value` are in each status."""
        ...

    def find_tagged(self, key: str, ref: str) -> list[str]:
        """Ids of runs with tag `key` whose id starts with `ref` or whose name is `ref`."""
        ...

    def metric_extremes(self, run_ids: Sequence[str], key: str, agg: str) -> dict[str, float]:
        """The min or max (`agg`) of metric `key` over each run's history."""
        ...

    def claim_trial(
        self, sweep_id: str, statuses: Sequence[str], pid: int, host: str
    ) -> str | None: ...

    def adopt_run(
        self, run_id: str, pid: int, host: str, start_time: int, command: str
    ) -> None: ...

    def mark_started(self, run_id: str, host: str, start_time: int) -> None: ...

    def set_command(self, run_id: str, command: str) -> None: ...

    def release(self, run_id: str) -> None: ...

    def requeue(self, run_id: str) -> None: ...

    def running_here(self, host: str) -> list[tuple[str, int | None, int | None]]: ...

    def run_owner(self, run_id: str) -> tuple[int | None, str | None]: ...

    def run_models(self, run_id: str) -> list[dict[str, object]]: ...

    def run_inputs(self, run_id: str) -> list[dict[str, object]]: ...

    def run_table(
        self,
        experiment_ids: Sequence[str],
        alternatives: Sequence[str] = ...,
        include_deleted: bool = ...,
        run_ids: Sequence[str] | None = ...,
    ) -> dict[str, object]:
        """Every run of the experiments matching any filter in `alternatives`, as columns."""
        ...

    def metric_buckets(
        self,
        run_id: str,
        key: str,
        buckets: int,
        lo: float | None = ...,
        hi: float | None = ...,
        axis: str = ...,
    ) -> dict[str, object]:
        """A metric's history in a range, downsampled per bucket keeping min and max."""
        ...

    def metric_summary(
        self, experiment_ids: Sequence[str], key: str, agg: str, step: int | None = ...
    ) -> dict[str, float | None]:
        """A metric of every run of the experiments: last, min, max, or at a step."""
        ...

    def changed_since(self, cursor: int, since: int) -> tuple[int, int, list[str]]:
        """Runs that may have changed since a poll's cursor, and the next cursor."""
        ...


class ServerStore(Store, Protocol):
    """An MLflow tracking server: artifacts are uploaded, writes may be spooled."""

    def upload_artifacts(
        self, run_id: str, keep: Sequence[str] = ..., root: Path | None = ...
    ) -> None: ...

    def list_artifacts(self, run_id: str) -> list[dict[str, object]]: ...

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """One artifact's content (`path` as `list_artifacts` names it)."""
        ...

    def sync(self) -> list[str]:
        """Send writes spooled while the server was unreachable; returns what was sent."""
        ...


class Registry(Protocol):
    """A model registry: registered models and their numbered versions, aliases, tags,
    descriptions and stages. Values are dictionaries in MLflow's JSON shapes
    (``RegisteredModel``, ``ModelVersion``); refusals raise `RegistryError`."""

    def create_registered_model(
        self, name: str, tags: Mapping[str, str] | None = ..., description: str | None = ...
    ) -> dict[str, Any]: ...

    def get_registered_model(self, name: str) -> dict[str, Any]: ...

    def search_registered_models(
        self, filter_string: str | None = ..., max_results: int = ..., offset: int = ...
    ) -> list[dict[str, Any]]: ...

    def rename_registered_model(self, name: str, new_name: str) -> dict[str, Any]: ...

    def update_registered_model(self, name: str, description: str) -> dict[str, Any]: ...

    def delete_registered_model(self, name: str) -> None: ...

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def get_version_by_alias(self, name: str, alias: str) -> dict[str, Any]: ...

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = ...,
        model_id: str | None = ...,
        tags: Mapping[str, str] | None = ...,
        description: str | None = ...,
        run_link: str | None = ...,
        user_id: str | None = ...,
    ) -> dict[str, Any]: ...

    def get_model_version(self, name: str, version: str) -> dict[str, Any]: ...

    def update_model_version(self, name: str, version: str, description: str) -> dict[str, Any]: ...

    def transition_stage(
        self, name: str, version: str, stage: str, archive_existing: bool = ...
    ) -> dict[str, Any]: ...

    def delete_model_version(self, name: str, version: str) -> None: ...

    def search_model_versions(
        self, filter_string: str | None = ..., max_results: int = ..., offset: int = ...
    ) -> list[dict[str, Any]]: ...

    def latest_versions(self, name: str, stages: Sequence[str] = ...) -> list[dict[str, Any]]: ...

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None: ...

    def download_uri(self, name: str, version: str) -> str:
        """Where the version's files are (a file:// URI on the embedded store)."""
        ...

    def logged_model_uri(self, model_id: str) -> str:
        """Where a logged model's files are."""
        ...

    def run_model_uri(self, run_id: str, path: str) -> str:
        """Where ``runs:/<run>/<path>`` is: the run's logged model of that name, or its files."""
        ...

    def fetch(self, uri: str, dest: Path) -> Path:
        """A local folder holding the files at `uri` (downloaded into `dest` if remote)."""
        ...


def metric_value(v: float | None) -> float:
    return math.nan if v is None else float(v)
