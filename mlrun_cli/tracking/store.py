"""The tracking store Protocol, its value objects, and the choice of store by tracking URI."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mlrun_cli.errors import TrackingError

RUNNING = "RUNNING"
SCHEDULED = "SCHEDULED"
FINISHED = "FINISHED"
FAILED = "FAILED"
KILLED = "KILLED"
STATUSES = (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED)
TERMINAL = (FINISHED, FAILED, KILLED)

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    creation_time: int | None = None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


# The tag a run submitted to a cluster carries (its job id); lists look for active ones cheaply.
SUBMITTED_TAG = "mlrun.slurm.job_id"


@dataclass(frozen=True)
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


class Store(Protocol):
    """Where runs are recorded. Chosen by tracking URI with `open_store`."""

    uri: str

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
    ) -> list[Run]: ...

    def metric_history(self, run_id: str, key: str) -> list[Metric]: ...

    def run_dir(self, run_id: str) -> Path:
        """A local folder for the run: the events file, the output log, its artifacts."""
        ...

    def artifact_dir(self, run_id: str) -> Path: ...

    def close(self) -> None: ...


_MLFLOW_SCHEMES = {
    "sqlite",
    "file",
    "postgresql",
    "postgres",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
    "uc",
}


def resolve_tracking_uri(explicit: str | None) -> str:
    """`--tracking-uri` > ``MLRUN_TRACKING_URI`` > an http(s) ``MLFLOW_TRACKING_URI`` > the
    embedded store in ``./.mlrun``."""
    from mlrun_cli.paths import default_store_dir

    uri = explicit or os.environ.get("MLRUN_TRACKING_URI")
    if uri:
        return uri
    mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if mlflow_uri.lower().startswith(("http://", "https://")):
        return mlflow_uri  # a team's MLflow server; any other MLFLOW_TRACKING_URI is the child's
    return str(default_store_dir())


def open_store(uri: str) -> Store:
    """Open the store named by `uri`. MLflow store URIs are refused, never opened as ours."""
    scheme, sep, rest = uri.partition(":")
    if sep and len(scheme) > 1 and "/" not in scheme:
        scheme = scheme.lower()
        if scheme == "mlrun":
            path = rest[2:] if rest.startswith("//") else rest
            return _embedded(Path(path or ".mlrun"), uri)
        if scheme in _MLFLOW_SCHEMES or scheme.startswith(("mysql+", "postgresql+", "mssql+")):
            raise TrackingError(
                f"tracking URI {uri!r} is an MLflow store; mlrun records into its own store "
                "(a directory such as ./.mlrun) or an MLflow server (http://...); pass one of "
                "those with --tracking-uri"
            )
        if scheme in ("http", "https"):
            from mlrun_cli.tracking.mlflow_rest import MlflowRestStore

            return MlflowRestStore(uri)
        raise TrackingError(
            f"tracking URI {uri!r}: unknown scheme {scheme!r}; use a store directory "
            "(./.mlrun or mlrun:///abs/path)"
        )
    return _embedded(Path(uri), uri)


def _embedded(path: Path, uri: str) -> Store:
    from mlrun_cli.tracking.sqlite import SqliteStore

    path = path.expanduser().absolute()
    if path.is_dir() and not (path / "mlrun.db").exists() and _looks_like_mlflow(path):
        raise TrackingError(
            f"tracking URI {uri!r} is an MLflow file store (mlruns layout), not an mlrun store; "
            "pass another directory"
        )
    if path.exists() and not path.is_dir():
        raise TrackingError(f"tracking URI {uri!r} is a file, not a store directory")
    return SqliteStore(path)


def _looks_like_mlflow(path: Path) -> bool:
    return (
        (path / ".trash").is_dir()
        or (path / "0" / "meta.yaml").is_file()
        or (path / "models").is_dir()
    )


def metric_value(v: float | None) -> float:
    return math.nan if v is None else float(v)
