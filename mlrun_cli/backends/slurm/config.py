"""A Slurm backend config (--backend-config): reading, checking, and what it implies."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from mlrun_cli.backends import BackendError, check_exports_and_stage, read_config

# Config key -> sbatch long option; values are passed as written.
SBATCH_OPTIONS = {
    "partition": "--partition",
    "account": "--account",
    "qos": "--qos",
    "time": "--time",
    "mem": "--mem",
    "mem_per_cpu": "--mem-per-cpu",
    "cpus_per_task": "--cpus-per-task",
    "nodes": "--nodes",
    "ntasks": "--ntasks",
    "gres": "--gres",
    "gpus": "--gpus",
    "gpus_per_node": "--gpus-per-node",
    "constraint": "--constraint",
    "reservation": "--reservation",
    "nodelist": "--nodelist",
    "exclude": "--exclude",
}

# What a job needs from the submitting environment to find its tools and caches; passed by
# name (sbatch reads the values), and only when set.
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
    # An MLflow server store is written from the node: its credentials, by name only.
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_TRACKING_SERVER_CERT_PATH",
)

INSTALL_HINT = (
    "--backend slurm needs the Slurm client commands (sbatch, squeue, scancel) on PATH; "
    "load them (module load slurm) or install them (apt-get install slurm-client)"
)


def load_config(value: str | None) -> dict[str, Any]:
    """A --backend-config: a YAML/JSON file, or inline JSON; validated by slurm.schema.json."""
    return read_config("slurm", value)


def check_ready(config: Mapping[str, Any]) -> None:
    """Everything that can be checked before anything is recorded or submitted."""
    import shutil

    for tool in ("sbatch", "squeue", "scancel"):
        if shutil.which(tool) is None:
            raise BackendError(f"{tool} not found: {INSTALL_HINT}")
    check_exports_and_stage(config)


def node_command(config: Mapping[str, Any]) -> list[str]:
    """How the node starts mlrun: `mlrun` if configured, else `<python> -m mlrun_cli`."""
    if config.get("mlrun"):
        return [str(config["mlrun"])]
    return [str(config.get("python") or sys.executable), "-m", "mlrun_cli"]
