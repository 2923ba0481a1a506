"""Where an entry point's command executes: one Backend protocol for every place a run can go.

A backend knows four things: how to submit a job (one command, or one command per index of
an array), how to ask for the state of many jobs in one call, how to cancel many jobs in one
call, and where a run's output log is. Everything else (provenance, environments, the run's
record) is the same for all backends and lives outside them: a cluster job executes
``mlrun _exec``, which performs the run exactly as a local run does and writes its status
into the run folder (see `mlrun_cli.cluster`).

Adding a backend is one module (or package) here plus one entry in `REGISTRY`; nothing
outside this package names a backend.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from mlrun_cli.errors import MlrunError
from mlrun_cli.values import field, valueclass


class BackendError(MlrunError):
    """A backend is missing, misconfigured, or refused a job."""


class JobStatus(enum.Enum):
    """A job's state in words every backend maps its own onto."""

    PENDING = "PENDING"  # queued, held, suspended, or back in the queue to be restarted
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"  # the scheduler saw the command exit 0
    FAILED = "FAILED"  # the command exited non-zero
    ENDED = "ENDED"  # the scheduler ended it: time limit, memory, node failure, ...
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"


@valueclass
class JobSpec:
    """One job: a command run in `workdir`, once or once per array index."""

    name: str
    argv: Sequence[str]  # the command; for an array, "{index}" is replaced by the task's index
    workdir: Path
    log: Path  # where the job's output goes; for an array, a folder of <index>.log files
    script: Path  # where the backend may write its job script
    indices: Sequence[int] = ()  # an array job when not empty
    concurrency: int | None = None  # at most this many indices at once
    after: str | None = None  # start only after this job ended
    export: Sequence[str] = ()  # environment variables passed by name


@valueclass
class JobState:
    """The scheduler's view of one job (or one array task)."""

    job_id: str
    state: str  # the scheduler's own word: PENDING, RUNNING, COMPLETED, FAILED, ...
    reason: str = ""
    restarts: int = 0
    submit_time: float | None = None  # epoch seconds
    name: str = ""
    start_time: float | None = None
    end_time: float | None = None
    status: JobStatus = JobStatus.UNKNOWN  # `state` in the common words


@valueclass
class Submitted:
    job_id: str  # for an array: the array job's id; task ids are f"{job_id}_{index}"
    task_ids: Mapping[int, str] = field(default_factory=dict)  # index -> job id of the task


@valueclass
class NodeJob:
    """What a job's own environment on the node says about it."""

    job_id: str | None
    restart: int  # 0 for the first attempt, +1 for each requeue


class Backend(Protocol):
    name: str

    def submit(self, job: JobSpec) -> Submitted:
        """Queue `job`; return its id(s) once the scheduler has accepted it."""
        ...

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The state of every job in `job_ids` the scheduler still knows, in one call."""
        ...

    def cancel(self, job_ids: Sequence[str], *, signal: str | None = None) -> None:
        """End every job in `job_ids` in one call, or send them `signal` (INT, TERM, ...)."""
        ...

    def log_path(self, run_dir: Path) -> Path:
        """Where the output of the run in `run_dir` is written while it runs."""
        ...


class ClusterBackend(Backend, Protocol):
    """A backend whose jobs run `mlrun _exec` elsewhere, recording into the run folder."""

    config: Mapping[str, Any]

    @property
    def poll_interval(self) -> float: ...

    def check_ready(self) -> None:
        """Everything that can be checked before anything is recorded or submitted."""
        ...

    def stage_root(self) -> Path:
        """Where snapshots of the source are staged, readable from the nodes."""
        ...

    def node_command(self) -> list[str]:
        """How a node starts mlrun."""
        ...

    def export(self) -> list[str]:
        """Names of environment variables the jobs get from the submitting environment."""
        ...

    def final(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The last word on jobs gone from the queue, where the scheduler keeps one."""
        ...

    def node_job(self, environ: Mapping[str, str]) -> NodeJob:
        """Read on the node, inside the job: its id and attempt."""
        ...

    def describe(self) -> str:
        """One line for `mlrun backend check`: where the jobs go, and how the nodes see the
        stage dir, the env cache and the run folders."""
        ...

    def shares_folder(self) -> bool:
        """True when the nodes see the stage dir, env cache and run folders at the same paths
        (the run-folder contract); False when each job carries its snapshot and job file
        with it and the node records into an MLflow server store."""
        ...

    def check_store(self, server: bool) -> None:
        """Refuse, before anything is recorded, a store the jobs cannot record into (`server`:
        the run records into an MLflow server)."""
        ...

    def job_output(self, job_id: str) -> bytes | None:
        """The job's output as the scheduler keeps it; None where it goes to the run folder."""
        ...


# name -> "module:class"; a cluster backend's class takes its config (a mapping), and its
# module has `load_config(text) -> dict` for --backend-config.
REGISTRY: dict[str, str] = {
    "local": "mlrun_cli.backends.local:LocalBackend",
    "slurm": "mlrun_cli.backends.slurm:SlurmBackend",
    "ray": "mlrun_cli.backends.ray:RayBackend",
}
LOCAL = "local"
# The backend of job files written before job.json named its backend.
LEGACY_CLUSTER = "slurm"


def backend_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def _load(name: str) -> tuple[Any, Any]:
    if name not in REGISTRY:
        raise BackendError(
            f"no backend {name!r}; the available backends are: {', '.join(REGISTRY)}"
        )
    module_name, _, attr = REGISTRY[name].partition(":")
    module = importlib.import_module(module_name)
    return module, getattr(module, attr)


def get_backend(name: str, config: Mapping[str, Any] | None = None) -> Backend:
    """The backend called `name`; unknown names list the known ones."""
    _, cls = _load(name)
    backend: Backend = cls() if name == LOCAL else cls(config or {})
    return backend


def cluster_backend(name: str, config: Mapping[str, Any] | None = None) -> ClusterBackend:
    """The cluster backend `name` with an already-checked `config`."""
    if name == LOCAL:
        _load(name)
        raise BackendError(f"--backend {name} runs in this process; drop --backend-config/--detach")
    _, cls = _load(name)
    backend: ClusterBackend = cls(config or {})
    return backend


def configure(name: str, config_text: str | None) -> ClusterBackend:
    """The cluster backend `name` configured from --backend-config text, checked ready
    before anything is recorded or submitted."""
    if name == LOCAL:
        return cluster_backend(name)  # raises with the reason
    module, _ = _load(name)
    backend = cluster_backend(name, module.load_config(config_text))
    backend.check_ready()
    return backend


def read_config(name: str, value: str | None) -> dict[str, Any]:
    """A --backend-config for backend `name`: a YAML/JSON file, or inline JSON, validated by
    `schemas/<name>.schema.json`; every value but `setup` on one line (they go into scripts)."""
    import json

    from mlrun_cli.project.validation import load_validated, validate

    if value is None:
        return {}
    if value.lstrip().startswith("{"):
        try:
            doc = json.loads(value)
        except ValueError as exc:
            raise BackendError(f"--backend-config: not valid JSON ({exc}); fix the JSON") from None
        validate(name, doc, Path("--backend-config"), BackendError)
    else:
        doc = load_validated(
            name, Path(value), BackendError, f"pass a {name}.yaml file or a JSON object"
        )
    doc = dict(doc or {})
    for key, val in doc.items():
        texts = val if isinstance(val, list) else [val]
        if key != "setup" and any("\n" in str(t) for t in texts):
            raise BackendError(f"--backend-config: {key}: a value spans lines; keep it on one line")
    return doc


def stage_root(config: Mapping[str, Any]) -> Path:
    """Where a cluster backend stages snapshots: the config's `stage_dir`, else the cache's."""
    from mlrun_cli.paths import tool_path

    given = config.get("stage_dir")
    return Path(given).expanduser().absolute() if given else tool_path("cache") / "stage"


def check_exports_and_stage(config: Mapping[str, Any]) -> None:
    """What every cluster backend needs before it submits: each variable `export` names is
    set here, and the stage dir can be written."""
    import os

    missing = [v for v in config.get("export") or [] if v not in os.environ]
    if missing:
        raise BackendError(
            f"--backend-config export: {missing[0]} is not set in this environment; set it "
            "or remove it from the list"
        )
    stage = stage_root(config)
    try:
        stage.mkdir(parents=True, exist_ok=True)
        probe = stage / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BackendError(
            f"stage_dir {stage} is not writable ({exc.strerror or exc}); pick a directory on "
            "the shared filesystem you can write to"
        ) from None
