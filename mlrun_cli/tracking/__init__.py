"""Logging into the current run from a child process (standard library only).

    from mlrun_cli import tracking
    tracking.log_param("C", 1.0)
    tracking.log_metric("accuracy", 0.97, step=3)

Store implementations live in submodules (`mlrun_cli.store.base`, `.sqlite`) and are
not imported here, so a child pays only for the standard library.
"""

from mlrun_cli.tracking.client import (
    active_run_id,
    artifact_dir,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
    set_tags,
)

__all__ = [
    "active_run_id",
    "artifact_dir",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
]
