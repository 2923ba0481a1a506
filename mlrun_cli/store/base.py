"""The tracking store Protocol, its value objects, and the choice of store by tracking URI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.values import field, valueclass

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Protocol
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

    def running_here(self, host: str) -> list[tuple[str, int | None, int | None]]: ...

    def run_owner(self, run_id: str) -> tuple[int | None, str | None]: ...

    def run_models(self, run_id: str) -> list[dict[str, object]]: ...

    def run_inputs(self, run_id: str) -> list[dict[str, object]]: ...


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


def metric_value(v: float | None) -> float:
    return math.nan if v is None else float(v)
