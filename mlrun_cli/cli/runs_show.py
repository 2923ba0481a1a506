"""`mlrun runs show`: one run, every field, its provenance, metrics with their history."""

from __future__ import annotations

from typing import Any

import click

from mlrun_cli import console
from mlrun_cli import tags as T
from mlrun_cli.cli.options import Command, json_option, read_tracking_option
from mlrun_cli.cli.render import (
    ENVIRONMENT,
    PROVENANCE,
    data_context,
    fmt_duration,
    fmt_time,
    fmt_value,
    provenance_rows,
    run_to_dict,
    sparkline,
)
from mlrun_cli.cli.stores import open_runs_store
from mlrun_cli.store.artifacts import list_artifacts
from mlrun_cli.store.base import Metric, Run
from mlrun_cli.store.mlflow_messages import json_number


@click.command("show", cls=Command)
@click.argument("run_id")
@read_tracking_option
@json_option
def runs_show(run_id: str, tracking_uri: str | None, as_json: bool) -> None:
    """Show one run (a unique id prefix is enough).

    Examples:

    \b
      mlrun runs show 3f2a9c1b
      mlrun runs show 3f2a9c1b --json | jq .metric_history
    """
    store = open_runs_store(tracking_uri)
    run = store.get_run(run_id)
    index = store.index()
    artifacts = list_artifacts(store, run.run_id)
    histories = {k: store.metric_history(run.run_id, k) for k in sorted(run.metrics)}
    models = index.run_models(run.run_id) if index is not None else []
    inputs = index.run_inputs(run.run_id) if index is not None else []
    registered = store.registry().search_model_versions(f"run_id = '{run.run_id}'")
    if as_json:
        data = _detail(run, artifacts, models, inputs, histories)
        data["registered_models"] = [
            {k: v.get(k) for k in ("name", "version", "aliases", "current_stage", "source")}
            for v in registered
        ]
        console.json_out(data)
        return
    console.out(f"run {run.run_id}  {run.name}")
    fields = [
        ("status", run.status + (" (deleted)" if run.lifecycle_stage == "deleted" else "")),
        ("exit code", "" if run.exit_code is None else str(run.exit_code)),
        ("experiment", run.experiment_id),
        ("started", fmt_time(run.start_time)),
        ("duration", fmt_duration(run.start_time, run.end_time)),
        ("user", run.user or ""),
        ("command", run.command or ""),
        ("artifacts", run.artifact_uri or ""),
    ]
    if run.tags.get(T.LOST) == "true":
        fields.insert(1, ("lost", run.tags.get(T.LOST_REASON, "yes")))
    console.table(None, ["field", "value"], fields, show_header=False)
    source = provenance_rows(run.tags)
    if source:
        console.table("source", ["field", "value"], source, show_header=False)
    env = [(label, run.tags[tag]) for label, tag in ENVIRONMENT if tag in run.tags]
    if env:
        console.table("environment", ["field", "value"], env, show_header=False)
    if run.params:
        console.table("params", ["name", "value"], sorted(run.params.items()))
    if run.metrics:
        console.table(
            "metrics",
            ["name", "value", "step", "history"],
            [
                (k, fmt_value(m.value), m.step, sparkline([h.value for h in histories[k]]))
                for k, m in sorted(run.metrics.items())
            ],
        )
    shown = {tag for _, tag in (*PROVENANCE, *ENVIRONMENT)}
    other_tags = sorted((k, v) for k, v in run.tags.items() if k not in shown)
    if other_tags:
        console.table("tags", ["name", "value"], other_tags)
    if artifacts:
        console.table("artifacts", ["path", "size"], [(a["path"], a["size"]) for a in artifacts])
    _models_tables(models, registered)
    if inputs:
        console.table(
            "dataset inputs",
            ["name", "digest", "source", "context"],
            [
                (d["name"], d["digest"], d["source_type"] or "", data_context(d["tags"]))
                for d in inputs
            ],
        )


def _models_tables(models: list[dict[str, Any]], registered: list[dict[str, Any]]) -> None:
    """The run's logged models and the registered versions made of them."""
    if models:
        console.table(
            "logged models",
            ["name", "id", "status", "path"],
            [(m["name"], m["model_id"], m["status"], m["artifact_location"]) for m in models],
        )
    if registered:
        console.table(
            "registered models",
            ["name", "version", "aliases", "stage"],
            [
                (v["name"], v["version"], ",".join(v["aliases"]), v["current_stage"])
                for v in registered
            ],
        )


def _detail(
    run: Run,
    artifacts: list[dict[str, Any]],
    models: list[dict[str, Any]],
    inputs: list[dict[str, Any]],
    histories: dict[str, list[Metric]],
) -> dict[str, Any]:
    """The documented JSON shape of `runs show --json` (schema mlrun.run-detail/1)."""
    data = run_to_dict(run)
    data["schema"] = "mlrun.run-detail/1"
    data["artifacts"] = artifacts
    data["logged_models"] = [
        {k: m[k] for k in ("model_id", "name", "status", "artifact_location", "source_run_id")}
        for m in models
    ]
    data["inputs"] = inputs
    data["metric_history"] = {
        k: [{"value": json_number(m.value), "step": m.step, "timestamp": m.timestamp} for m in h]
        for k, h in histories.items()
    }
    return data
