"""Log params, metrics, tags and artifacts from inside a run. Standard library only.

A run started by `mlrun run` hands its child the path of a JSON-lines file in
``MLRUN_EVENTS_FILE``; every call here appends one line to it, and the runner records the
lines in the run while it executes and again when it ends. Outside a run, the calls do
nothing and say so once on stderr. The line format is documented in the README, so a child
in any language can write the same lines.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

EVENTS_ENV = "MLRUN_EVENTS_FILE"
_warned = False


def active_run_id() -> str | None:
    """The id of the run this process belongs to, or None outside `mlrun run`."""
    return os.environ.get("MLRUN_RUN_ID")


def artifact_dir() -> str | None:
    """The run's artifact folder: files written here are the run's artifacts."""
    return os.environ.get("MLRUN_ARTIFACT_DIR")


def _emit(record: dict[str, Any]) -> None:
    global _warned
    path = os.environ.get(EVENTS_ENV)
    if not path:
        if not _warned:
            _warned = True
            print(
                "mlrun_cli.tracking: not running under 'mlrun run'; nothing is recorded",
                file=sys.stderr,
            )
        return
    line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
    # One write of one whole line with O_APPEND: concurrent writers never interleave lines.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def _number(value: float) -> float | str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def log_param(key: str, value: Any) -> None:
    _emit({"type": "param", "key": str(key), "value": str(value)})


def log_params(params: Mapping[str, Any]) -> None:
    for key, value in params.items():
        log_param(key, value)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    record: dict[str, Any] = {
        "type": "metric",
        "key": str(key),
        "value": _number(value),
        "timestamp": int(time.time() * 1000),
    }
    if step is not None:
        record["step"] = int(step)
    _emit(record)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    for key, value in metrics.items():
        log_metric(key, value, step)


def set_tag(key: str, value: Any) -> None:
    _emit({"type": "tag", "key": str(key), "value": str(value)})


def set_tags(tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        set_tag(key, value)


def _host_path(path: str) -> str:
    """`path` as the runner sees it. In a container the project is mounted at a working
    directory of its own (MLflow's) and at its host path: a file under the first is named
    by the second, which the runner, outside, can read."""
    inside, host = os.environ.get("MLRUN_CONTAINER_WORKDIR"), os.environ.get("MLRUN_HOST_WORKDIR")
    if inside and host and (path == inside or path.startswith(inside.rstrip("/") + "/")):
        return host.rstrip("/") + path[len(inside.rstrip("/")) :]
    return path


def log_artifact(path: str, artifact_path: str | None = None) -> None:
    """Record the file or directory `path` as an artifact (copied when the runner ingests it)."""
    record: dict[str, Any] = {"type": "artifact", "path": _host_path(os.path.abspath(path))}
    if artifact_path:
        record["artifact_path"] = artifact_path
    _emit(record)
