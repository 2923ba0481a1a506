"""`mlrun runs ...`: list and inspect recorded runs."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import click

from mlrun_cli import console
from mlrun_cli.cli import json_option, tracking_option


@click.group()
def runs() -> None:
    """List and inspect recorded runs."""


def _fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    s = (end - start) / 1000
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def _fmt_value(v: float) -> str:
    return f"{v:.6g}"


def run_to_dict(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "name": run.name,
        "experiment_id": run.experiment_id,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "exit_code": run.exit_code,
        "user": run.user,
        "command": run.command,
        "lifecycle_stage": run.lifecycle_stage,
        "artifact_uri": run.artifact_uri,
        "params": dict(run.params),
        "metrics": {
            k: {"value": m.value, "step": m.step, "timestamp": m.timestamp}
            for k, m in run.metrics.items()
        },
        "tags": dict(run.tags),
    }


@runs.command("list")
@click.option("--experiment-id", "experiment_ids", multiple=True, help="Only these experiments.")
@click.option("--experiment-name", help="Only this experiment.")
@click.option("--status", "statuses", multiple=True, help="Only runs with this status.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@tracking_option
@json_option
def runs_list(
    experiment_ids: Sequence[str],
    experiment_name: str | None,
    statuses: Sequence[str],
    limit: int,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    from mlrun_cli.errors import TrackingError
    from mlrun_cli.tracking.store import STATUSES, open_store, resolve_tracking_uri

    store = open_store(resolve_tracking_uri(tracking_uri))
    ids = list(experiment_ids)
    if experiment_name:
        exp = store.get_experiment_by_name(experiment_name)
        if exp is None:
            raise TrackingError(
                f"no experiment named {experiment_name!r}; see 'mlrun experiments list'"
            )
        ids.append(exp.experiment_id)
    for s in statuses:
        if s.upper() not in STATUSES:
            raise click.BadParameter(
                f"{s!r}; use one of {', '.join(STATUSES)}", param_hint="--status"
            )
    found = store.search_runs(ids or None, [s.upper() for s in statuses] or None, limit)
    if as_json:
        console.json_out({"schema": "mlrun.runs/1", "runs": [run_to_dict(r) for r in found]})
        return
    if not found:
        console.info(f"no runs in {store.uri}")
        return
    metric_keys = sorted({k for r in found for k in r.metrics})[:4]
    rows = [
        (
            r.run_id[:8],
            r.name,
            r.status,
            _fmt_time(r.start_time),
            _duration(r.start_time, r.end_time),
            r.tags.get("mlflow.project.entryPoint", ""),
            *(_fmt_value(r.metrics[k].value) if k in r.metrics else "" for k in metric_keys),
        )
        for r in found
    ]
    console.table(
        None, ["run", "name", "status", "started", "duration", "entry", *metric_keys], rows
    )


@runs.command("show")
@click.argument("run_id")
@tracking_option
@json_option
def runs_show(run_id: str, tracking_uri: str | None, as_json: bool) -> None:
    """Show one run: params, metrics, tags, artifacts, command."""
    from mlrun_cli.tracking.store import open_store, resolve_tracking_uri

    store = open_store(resolve_tracking_uri(tracking_uri))
    run = store.get_run(run_id)
    artifacts = _list_artifacts(store.artifact_dir(run.run_id))
    if as_json:
        data = run_to_dict(run)
        data["artifacts"] = artifacts
        data["schema"] = "mlrun.run-detail/1"
        console.json_out(data)
        return
    console.out(f"run {run.run_id}  {run.name}")
    fields = [
        ("status", run.status),
        ("exit code", "" if run.exit_code is None else str(run.exit_code)),
        ("experiment", run.experiment_id),
        ("started", _fmt_time(run.start_time)),
        ("duration", _duration(run.start_time, run.end_time)),
        ("user", run.user or ""),
        ("command", run.command or ""),
        ("artifacts", run.artifact_uri or ""),
    ]
    console.table(None, ["field", "value"], fields, show_header=False)
    source = provenance_rows(run.tags)
    if source:
        console.table("source", ["field", "value"], source, show_header=False)
    env = [
        (label, run.tags[tag])
        for label, tag in (
            ("manager", "mlflow.project.env"),
            ("key", "mlrun.env.key"),
            ("python", "mlrun.env.python"),
        )
        if tag in run.tags
    ]
    if env:
        console.table("environment", ["field", "value"], env, show_header=False)
    if run.params:
        console.table("params", ["name", "value"], sorted(run.params.items()))
    if run.metrics:
        console.table(
            "metrics",
            ["name", "value", "step"],
            [(k, _fmt_value(m.value), m.step) for k, m in sorted(run.metrics.items())],
        )
    if run.tags:
        console.table("tags", ["name", "value"], sorted(run.tags.items()))
    if artifacts:
        console.table("artifacts", ["path", "size"], [(a["path"], a["size"]) for a in artifacts])


_PROVENANCE = (
    ("source", "mlflow.source.name"),
    ("version", "mlrun.source.version"),
    ("commit", "mlflow.source.git.commit"),
    ("branch", "mlflow.source.git.branch"),
    ("repository", "mlflow.source.git.repoURL"),
    ("local repo", "mlrun.source.local_repo"),
    ("project", "mlrun.project.path"),
    ("dirty", "mlrun.git.dirty"),
    ("untracked", "mlrun.git.untracked"),
    ("rerun of", "mlrun.rerun_of"),
)


def provenance_rows(tags: Any) -> list[tuple[str, str]]:
    """Where a run's code came from, as (label, value) rows."""
    return [(label, tags[tag]) for label, tag in _PROVENANCE if tag in tags]


def _list_artifacts(root: Any) -> list[dict[str, Any]]:
    from pathlib import Path

    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            found.append({"path": str(full.relative_to(root)), "size": full.stat().st_size})
    return sorted(found, key=lambda a: str(a["path"]))
