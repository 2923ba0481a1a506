"""A Ray backend config (--backend-config): reading, checking, and what it implies."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from mlrun_cli.backends import BackendError, check_exports_and_stage, read_config

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
DEFAULT_POLL_S = 2.0
DEFAULT_TIMEOUT_S = 30.0  # for each call to the Jobs API

INSTALL_HINT = "--backend ray needs the Ray Jobs client: pip install 'mlrun-cli[ray]'"

# What a job needs from the submitting environment to find its tools and caches (the same
# names the Slurm backend passes): their values go into the job's runtime_env when set.
BASE_EXPORT = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_CACHE_HOME",
    "PIP_CACHE_DIR",
    "PIP_INDEX_URL",
    "UV_CACHE_DIR",
    "UV_INDEX_URL",
    "NO_COLOR",
)
# Credentials of an MLflow server store, passed by name like the config's `export` list: a
# queued trial keeps their names only and reads the values when it is submitted.
SECRET_EXPORT = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
)

# Paths of the submitting machine: without a shared filesystem (mode: working_dir) a node has
# its own, so these are not passed unless named in `export`.
LOCAL_PATHS = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_CACHE_HOME",
        "PIP_CACHE_DIR",
        "UV_CACHE_DIR",
        "MLRUN_CACHE_DIR",
        "MLRUN_ENV_ROOT",
        "MLRUN_STORE_CEILING",
        "MLRUN_CONDA_EXE",
    }
)
SHARED, WORKING_DIR = "shared", "working_dir"

_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


def load_config(value: str | None) -> dict[str, Any]:
    """A --backend-config: a YAML/JSON file, or inline JSON; validated by ray.schema.json."""
    return read_config("ray", value)


def address(config: Mapping[str, Any]) -> str:
    """The Ray Jobs API: the config's, else RAY_ADDRESS (as the ray CLI reads it), else local."""
    return str(config.get("address") or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS)


def node_command(config: Mapping[str, Any]) -> list[str]:
    """How the node starts mlrun: `mlrun` if configured, else `<python> -m mlrun_cli`."""
    if config.get("mlrun"):
        return [str(config["mlrun"])]
    return [str(config.get("python") or sys.executable), "-m", "mlrun_cli"]


def memory_bytes(value: Any) -> int | None:
    """`memory` in bytes: an integer as it is, 512M / 4G / 2GiB with their unit."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(i?)B?", str(value).strip())
    if match is None:
        raise BackendError(f"--backend-config memory: {value!r} is not a size; write 4G or bytes")
    number, unit, binary = match.groups()
    scale = 1024 ** "_KMGT".index(unit) if binary and unit else _UNITS[unit]
    return int(float(number) * scale)


def entrypoint_resources(config: Mapping[str, Any]) -> dict[str, Any]:
    """What each job asks of the cluster, as `submit_job` keyword arguments."""
    asks: dict[str, Any] = {"entrypoint_num_cpus": config.get("num_cpus", 1)}
    if config.get("num_gpus"):
        asks["entrypoint_num_gpus"] = config["num_gpus"]
    memory = memory_bytes(config.get("memory"))
    if memory:
        asks["entrypoint_memory"] = memory
    if config.get("resources"):
        asks["entrypoint_resources"] = dict(config["resources"])
    return asks


def mode(config: Mapping[str, Any]) -> str:
    """shared (the run-folder contract) or working_dir (the snapshot uploaded with the job)."""
    return str(config.get("mode") or SHARED)


def split_environment(
    export: list[str], environ: Mapping[str, str], local_paths: bool = True
) -> tuple[dict[str, str], list[str]]:
    """(values, names): what a job gets from `environ`. Values are the paths and settings
    that must be the same as at submit time (the base list, MLRUN_*; without `local_paths`,
    not this machine's paths); names are credentials, whose values are read only when a job
    is handed to Ray."""
    values = {k: environ[k] for k in BASE_EXPORT if k in environ}
    values.update({k: v for k, v in environ.items() if k.startswith("MLRUN_")})
    if not local_paths:
        values = {k: v for k, v in values.items() if k not in LOCAL_PATHS}
    names = [k for k in SECRET_EXPORT if k in environ]
    names += [k for k in export if k not in names]
    for k in names:
        values.pop(k, None)
    return values, names


def check_store(config: Mapping[str, Any], server: bool) -> None:
    """mode: working_dir records from the node into an MLflow server: refuse any other store."""
    if mode(config) == WORKING_DIR and not server:
        raise BackendError(
            "--backend-config mode: working_dir has the node record the run into an MLflow "
            "server store, and this one records into the embedded store; pass --tracking-uri "
            "http://HOST:PORT (or set MLFLOW_TRACKING_URI), or use mode: shared with a "
            "filesystem the Ray nodes share (sweeps need mode: shared)"
        )


def check_ready(config: Mapping[str, Any]) -> None:
    """Everything that can be checked here before anything is recorded or submitted (the
    cluster itself is asked by the backend)."""
    if mode(config) == WORKING_DIR and config.get("env_build") == "submit":
        raise BackendError(
            "--backend-config env_build: submit needs the env cache shared with the nodes, and "
            "mode: working_dir shares nothing; drop env_build (the job builds the environment "
            "on its node) or use mode: shared"
        )
    memory_bytes(config.get("memory"))
    check_exports_and_stage(config)
