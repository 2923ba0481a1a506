"""MLflow's REST JSON shapes (the `/api/2.0/mlflow/` protocol), in both directions.

Plain functions between our value objects and the dictionaries MLflow's client sends and
reads. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from mlrun_cli import tags as tag_keys
from mlrun_cli.store.base import Experiment, Metric, Run

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

# error_code -> HTTP status, as MLflow's server maps them. None of these is retried by the
# client (it retries 408, 429 and 5xx), so a "not supported" answer fails at once.
STATUS_OF = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "NOT_IMPLEMENTED": 501,
}

# MLflow's batch limits (log-batch requests).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000


class RestError(Exception):
    """An MLflow error response: ``{"error_code", "message"}`` with its HTTP status."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def status(self) -> int:
        return STATUS_OF.get(self.error_code, 400)

    def payload(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


def file_uri(path: Path | str) -> str:
    return Path(path).absolute().as_uri()


def json_number(value: float) -> float | str:
    """A float as JSON can carry it: NaN and infinities as MLflow's strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def metric_to_json(m: Metric) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": m.key,
        "value": json_number(m.value),
        "timestamp": m.timestamp,
        "step": m.step,
    }
    for field in ("model_id", "dataset_name", "dataset_digest"):
        if getattr(m, field):
            out[field] = getattr(m, field)
    return out


def metric_from_json(d: Mapping[str, Any]) -> Metric:
    try:
        key = str(d["key"])
        raw = d["value"]
        value = float(raw) if not isinstance(raw, str) else float(raw.replace("Infinity", "inf"))
        return Metric(
            key,
            value,
            int(d.get("step") or 0),
            int(d.get("timestamp") or 0),
            d.get("model_id") or None,
            d.get("dataset_name") or None,
            d.get("dataset_digest") or None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RestError("INVALID_PARAMETER_VALUE", f"bad metric {dict(d)!r}: {exc}") from None


def key_values(items: Sequence[Mapping[str, Any]] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        if "key" not in item:
            raise RestError("INVALID_PARAMETER_VALUE", f"a {what} needs a key: {dict(item)!r}")
        out[str(item["key"])] = "" if item.get("value") is None else str(item["value"])
    return out


def run_info_to_json(run: Run, artifact_uri: str, status: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.run_id,
        "run_uuid": run.run_id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "user_id": run.user or "",
        "status": status or run.status,
        "start_time": run.start_time,
        "artifact_uri": artifact_uri,
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def run_to_json(
    run: Run,
    artifact_uri: str,
    *,
    status: str | None = None,
    inputs: Sequence[Mapping[str, Any]] = (),
    outputs: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    return {
        "info": run_info_to_json(run, artifact_uri, status),
        "data": {
            "metrics": [metric_to_json(m) for m in run.metrics.values()],
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": [{"key": k, "value": v} for k, v in run.tags.items()],
        },
        "inputs": {
            "dataset_inputs": [
                {
                    "tags": d.get("tags") or [],
                    "dataset": {
                        k: d[k]
                        for k in ("name", "digest", "source_type", "source", "schema", "profile")
                        if d.get(k) is not None
                    },
                }
                for d in inputs
            ]
        },
        "outputs": {"model_outputs": [{"model_id": mid, "step": step} for mid, step in outputs]},
    }


def experiment_to_json(exp: Experiment, artifact_location: str) -> dict[str, Any]:
    return {
        "experiment_id": exp.experiment_id,
        "name": exp.name,
        "artifact_location": artifact_location,
        "lifecycle_stage": exp.lifecycle_stage,
        "creation_time": exp.creation_time,
        "last_update_time": exp.creation_time,
        "tags": [],
    }


def logged_model_to_json(model: Mapping[str, Any]) -> dict[str, Any]:
    info = {
        "model_id": model["model_id"],
        "experiment_id": model["experiment_id"],
        "name": model["name"],
        "artifact_uri": file_uri(str(model["artifact_location"])),
        "status": model["status"],
        "creation_timestamp_ms": model["creation_time"],
        "last_updated_timestamp_ms": model["last_updated"],
        "tags": [{"key": k, "value": v} for k, v in dict(model.get("tags") or {}).items()],
    }
    if model.get("source_run_id"):
        info["source_run_id"] = model["source_run_id"]
    if model.get("model_type"):
        info["model_type"] = model["model_type"]
    params = [{"key": k, "value": v} for k, v in dict(model.get("params") or {}).items()]
    return {"info": info, "data": {"params": params, "metrics": []}}


def experiment_from_json(d: Mapping[str, Any]) -> Experiment:
    return Experiment(
        str(d["experiment_id"]),
        str(d.get("name", "")),
        str(d.get("lifecycle_stage", "active")),
        d.get("creation_time"),
    )


def run_from_json(d: Mapping[str, Any]) -> Run:
    """A run as an MLflow server returns it; what MLflow has no field for is read from our
    tags (the command, the exit code)."""
    info = d.get("info", {})
    data = d.get("data", {})
    tags = key_values(data.get("tags"), "tag")
    exit_code = tags.get(tag_keys.EXIT_CODE)
    return Run(
        run_id=str(info.get("run_id") or info.get("run_uuid")),
        experiment_id=str(info.get("experiment_id", "")),
        name=str(info.get("run_name") or tags.get(tag_keys.RUN_NAME) or ""),
        status=str(info.get("status", "")),
        start_time=info.get("start_time"),
        end_time=info.get("end_time"),
        exit_code=int(exit_code) if exit_code and exit_code.lstrip("-").isdigit() else None,
        user=info.get("user_id"),
        command=tags.get(tag_keys.COMMAND),
        lifecycle_stage=str(info.get("lifecycle_stage", "active")),
        artifact_uri=info.get("artifact_uri"),
        params=key_values(data.get("params"), "param"),
        tags=tags,
        metrics={m["key"]: metric_from_json(m) for m in data.get("metrics", [])},
    )
