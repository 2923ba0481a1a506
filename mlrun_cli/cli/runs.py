"""`mlrun runs ...`: find, inspect, compare, delete and restore recorded runs."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from mlrun_cli import console
from mlrun_cli.cli.app import json_option, tracking_option
from mlrun_cli.errors import TrackingError
from mlrun_cli.store.mlflow_messages import json_number

SPARKS = "▁▂▃▄▅▆▇█"


@click.group()
def runs() -> None:
    """Find, inspect and compare recorded runs."""


def _store(tracking_uri: str | None) -> Any:
    """The store, with this host's lost runs (runner gone, still RUNNING) recorded FAILED."""
    from mlrun_cli.run.lost import record_lost_runs
    from mlrun_cli.store import open_store, resolve_tracking_uri

    store = open_store(resolve_tracking_uri(tracking_uri))
    for run_id in record_lost_runs(store):
        console.warn(f"run {run_id[:8]} was RUNNING but its runner is gone; recorded FAILED")
    SUBMITTED_TAG = "mlrun.slurm.job_id"

    active = getattr(store, "any_active_with_tag", None)
    if active is not None and active(SUBMITTED_TAG):  # cheap: the import only when needed
        from mlrun_cli.cluster.contract import refresh

        refresh(store)
    return store


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


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """A unicode sparkline of the last `width` values (NaN and inf shown as spaces)."""
    import math

    tail = list(values)[-width:]
    finite = [v for v in tail if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo
    out = []
    for v in tail:
        if not math.isfinite(v):
            out.append(" ")
        elif span == 0:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            out.append(SPARKS[int((v - lo) / span * (len(SPARKS) - 1) + 0.5)])
    return "".join(out)


def run_to_dict(run: Any) -> dict[str, Any]:
    """The documented JSON shape of a run (schema mlrun.run-record/1)."""
    duration = None
    if run.start_time is not None and run.end_time is not None:
        duration = (run.end_time - run.start_time) / 1000
    return {
        "run_id": run.run_id,
        "name": run.name,
        "experiment_id": run.experiment_id,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration_s": duration,
        "exit_code": run.exit_code,
        "user": run.user,
        "command": run.command,
        "lifecycle_stage": run.lifecycle_stage,
        "artifact_uri": run.artifact_uri,
        "params": dict(run.params),
        "metrics": {
            k: {"value": json_number(m.value), "step": m.step, "timestamp": m.timestamp}
            for k, m in run.metrics.items()
        },
        "tags": dict(run.tags),
    }


def _experiment_ids(store: Any, ids: Sequence[str], name: str | None) -> list[str]:
    found = list(ids)
    if name:
        exp = store.get_experiment_by_name(name)
        if exp is None:
            raise TrackingError(f"no experiment named {name!r}; see 'mlrun experiments list'")
        found.append(exp.experiment_id)
    return found


@runs.command("list")
@click.option("--experiment-id", "experiment_ids", multiple=True, help="Only these experiments.")
@click.option("--experiment-name", help="Only this experiment.")
@click.option(
    "--status", "statuses", multiple=True, help="Only runs with this status (repeatable)."
)
@click.option(
    "--filter",
    "filter_string",
    metavar="EXPR",
    help="e.g. \"metrics.accuracy > 0.9 and params.kernel = 'linear'\".",
)
@click.option(
    "--order-by",
    "order_by",
    multiple=True,
    metavar="KEY [ASC|DESC]",
    help="e.g. 'metrics.accuracy DESC' (repeatable).",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted runs.")
@tracking_option
@json_option
def runs_list(
    experiment_ids: Sequence[str],
    experiment_name: str | None,
    statuses: Sequence[str],
    filter_string: str | None,
    order_by: Sequence[str],
    limit: int,
    include_deleted: bool,
    tracking_uri: str | None,
    as_json: bool,
) -> None:
    """List runs, newest first."""
    from mlrun_cli.store.base import STATUSES

    for s in statuses:
        if s.upper() not in STATUSES:
            raise click.BadParameter(
                f"{s!r}; use one of {', '.join(STATUSES)}", param_hint="--status"
            )
    store = _store(tracking_uri)
    found = store.search_runs(
        _experiment_ids(store, experiment_ids, experiment_name) or None,
        [s.upper() for s in statuses] or None,
        limit,
        include_deleted=include_deleted,
        filter_string=filter_string,
        order_by=order_by,
    )
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
            r.name + (" (deleted)" if r.lifecycle_stage == "deleted" else ""),
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
_ENVIRONMENT = (
    ("manager", "mlflow.project.env"),
    ("key", "mlrun.env.key"),
    ("python", "mlrun.env.python"),
)


def provenance_rows(tags: Any) -> list[tuple[str, str]]:
    """Where a run's code came from, as (label, value) rows."""
    return [(label, tags[tag]) for label, tag in _PROVENANCE if tag in tags]


@runs.command("show")
@click.argument("run_id")
@tracking_option
@json_option
def runs_show(run_id: str, tracking_uri: str | None, as_json: bool) -> None:
    """Show one run (a unique id prefix is enough)."""
    store = _store(tracking_uri)
    run = store.get_run(run_id)
    remote_list = getattr(store, "list_artifacts", None)
    artifacts = (
        remote_list(run.run_id) if remote_list else _list_artifacts(store.artifact_dir(run.run_id))
    )
    histories = {k: store.metric_history(run.run_id, k) for k in sorted(run.metrics)}
    models = store.run_models(run.run_id) if hasattr(store, "run_models") else []
    inputs = store.run_inputs(run.run_id) if hasattr(store, "run_inputs") else []
    if as_json:
        data = run_to_dict(run)
        data["schema"] = "mlrun.run-detail/1"
        data["artifacts"] = artifacts
        data["logged_models"] = [
            {k: m[k] for k in ("model_id", "name", "status", "artifact_location", "source_run_id")}
            for m in models
        ]
        data["inputs"] = inputs
        data["metric_history"] = {
            k: [
                {"value": json_number(m.value), "step": m.step, "timestamp": m.timestamp} for m in h
            ]
            for k, h in histories.items()
        }
        console.json_out(data)
        return
    console.out(f"run {run.run_id}  {run.name}")
    fields = [
        ("status", run.status + (" (deleted)" if run.lifecycle_stage == "deleted" else "")),
        ("exit code", "" if run.exit_code is None else str(run.exit_code)),
        ("experiment", run.experiment_id),
        ("started", _fmt_time(run.start_time)),
        ("duration", _duration(run.start_time, run.end_time)),
        ("user", run.user or ""),
        ("command", run.command or ""),
        ("artifacts", run.artifact_uri or ""),
    ]
    if run.tags.get("mlrun.lost") == "true":
        fields.insert(1, ("lost", run.tags.get("mlrun.lost.reason", "yes")))
    console.table(None, ["field", "value"], fields, show_header=False)
    source = provenance_rows(run.tags)
    if source:
        console.table("source", ["field", "value"], source, show_header=False)
    env = [(label, run.tags[tag]) for label, tag in _ENVIRONMENT if tag in run.tags]
    if env:
        console.table("environment", ["field", "value"], env, show_header=False)
    if run.params:
        console.table("params", ["name", "value"], sorted(run.params.items()))
    if run.metrics:
        console.table(
            "metrics",
            ["name", "value", "step", "history"],
            [
                (k, _fmt_value(m.value), m.step, sparkline([h.value for h in histories[k]]))
                for k, m in sorted(run.metrics.items())
            ],
        )
    shown = {tag for _, tag in (*_PROVENANCE, *_ENVIRONMENT)}
    other_tags = sorted((k, v) for k, v in run.tags.items() if k not in shown)
    if other_tags:
        console.table("tags", ["name", "value"], other_tags)
    if artifacts:
        console.table("artifacts", ["path", "size"], [(a["path"], a["size"]) for a in artifacts])
    if models:
        console.table(
            "logged models",
            ["name", "id", "status", "path"],
            [(m["name"], m["model_id"], m["status"], m["artifact_location"]) for m in models],
        )
    if inputs:
        console.table(
            "dataset inputs",
            ["name", "digest", "source", "context"],
            [(d["name"], d["digest"], d["source_type"] or "", _context(d["tags"])) for d in inputs],
        )


def _context(tags: Any) -> str:
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("key") == "mlflow.data.context":
            return str(tag.get("value"))
    return ""


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--all-rows", is_flag=True, help="Also show rows that are the same for every run.")
@tracking_option
@json_option
def runs_compare(
    run_ids: Sequence[str], all_rows: bool, tracking_uri: str | None, as_json: bool
) -> None:
    """Params, metrics and environment of runs side by side; differences marked."""
    if len(run_ids) < 2:
        raise click.UsageError("give at least two run ids to compare")
    store = _store(tracking_uri)
    found = [store.get_run(r) for r in run_ids]
    rows: list[tuple[str, list[str]]] = []
    for key in sorted({k for r in found for k in r.params}):
        rows.append((f"params.{key}", [r.params.get(key, "") for r in found]))
    for key in sorted({k for r in found for k in r.metrics}):
        rows.append(
            (
                f"metrics.{key}",
                [_fmt_value(r.metrics[key].value) if key in r.metrics else "" for r in found],
            )
        )
    for label, tag in (
        *_ENVIRONMENT,
        ("commit", "mlflow.source.git.commit"),
        ("dirty", "mlrun.git.dirty"),
    ):
        rows.append((label, [r.tags.get(tag, "") for r in found]))
    rows.append(("status", [r.status for r in found]))
    differing = [(k, v) for k, v in rows if len(set(v)) > 1]
    if as_json:
        console.json_out(
            {
                "schema": "mlrun.compare/1",
                "runs": [r.run_id for r in found],
                "rows": [{"key": k, "values": v, "differs": len(set(v)) > 1} for k, v in rows],
            }
        )
        return
    shown = rows if all_rows else differing
    table_rows = [("*" if len(set(v)) > 1 else "", k, *v) for k, v in shown]
    console.table(None, ["", "", *(r.run_id[:8] for r in found)], table_rows)
    same = len(rows) - len(differing)
    if same and not all_rows:
        console.out(
            f"({same} identical row{'s' if same != 1 else ''} folded; --all-rows shows them)"
        )


def _set_stage(run_ids: Sequence[str], stage: str, tracking_uri: str | None, as_json: bool) -> None:
    store = _store(tracking_uri)
    ids = [store.get_run(r).run_id for r in run_ids]  # all resolved before any change
    for rid in ids:
        store.set_lifecycle(rid, stage)
    if as_json:
        console.json_out({"schema": "mlrun.lifecycle/1", "lifecycle_stage": stage, "runs": ids})
    else:
        verb = "deleted" if stage == "deleted" else "restored"
        console.info(
            f"{verb} {len(ids)} run{'s' if len(ids) != 1 else ''}: {', '.join(i[:8] for i in ids)}"
        )


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@tracking_option
@json_option
def runs_delete(run_ids: Sequence[str], tracking_uri: str | None, as_json: bool) -> None:
    """Hide runs from lists (their records and artifacts are kept; see restore)."""
    _set_stage(run_ids, "deleted", tracking_uri, as_json)


@runs.command("restore")
@click.argument("run_ids", nargs=-1, required=True)
@tracking_option
@json_option
def runs_restore(run_ids: Sequence[str], tracking_uri: str | None, as_json: bool) -> None:
    """Bring deleted runs back."""
    _set_stage(run_ids, "active", tracking_uri, as_json)


@runs.command("sync")
@tracking_option
def runs_sync(tracking_uri: str | None) -> None:
    """Send what could not reach the MLflow server during runs (kept on disk meanwhile)."""
    store = _store(tracking_uri)
    sync = getattr(store, "sync", None)
    if sync is None:
        console.info(f"{store.uri} is a local store; nothing to sync")
        return
    done = sync()
    console.info(
        f"synced {len(done)} run{'s' if len(done) != 1 else ''}"
        + (f": {', '.join(d[:8] for d in done)}" if done else "")
    )


def _list_artifacts(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            found.append({"path": str(full.relative_to(root)), "size": full.stat().st_size})
    return sorted(found, key=lambda a: str(a["path"]))


def _add_status() -> None:
    from mlrun_cli.cli.jobs import runs_status

    runs.add_command(runs_status)


_add_status()
