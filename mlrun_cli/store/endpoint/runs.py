"""Route handlers of the loopback endpoint for runs, metrics and experiments."""

from __future__ import annotations

import os
import time

from mlrun_cli import tags as tag_keys
from mlrun_cli.store import mlflow_messages as mm
from mlrun_cli.store.base import TERMINAL, NewRun
from mlrun_cli.store.mlflow_messages import RestError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.store.endpoint.context import Routes, ServedRun

# -- runs ------------------------------------------------------------------------------------


def runs_get(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"run": ep.run_json(ep.run_arg(args))}


def runs_update(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    status = args.get("status")
    if args.get("run_name"):
        ep.store.log_batch(run_id, tags={tag_keys.RUN_NAME: str(args["run_name"])})
    if run_id == ep.run_id:
        # Our run's final status is decided by the runner from the exit; the child's word is
        # kept only to honour an explicit KILLED or FAILED on a clean exit.
        if status in TERMINAL:
            ep.child_status = str(status)
    elif status in TERMINAL:
        ep.store.set_terminated(
            run_id, str(status), int(args.get("end_time") or time.time() * 1000), None
        )
    elif status:
        ep.store.set_status(run_id, str(status))
    run = ep.store.get_run(run_id)
    return {"run_info": mm.run_info_to_json(run, mm.file_uri(ep.store.artifact_dir(run_id)))}


def runs_create(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    experiment_id = str(args.get("experiment_id") or ep.experiment_id)
    ep.experiment_json(experiment_id)  # 404 for an unknown experiment
    tags = mm.key_values(args.get("tags"), "tag")
    run_id = os.urandom(16).hex()
    name = str(args.get("run_name") or tags.get(tag_keys.RUN_NAME) or f"nested-{run_id[:8]}")
    tags.setdefault(tag_keys.RUN_NAME, name)
    ep.store.create_run(
        NewRun(
            run_id=run_id,
            experiment_id=experiment_id,
            name=name,
            user=str(args.get("user_id") or ep.user),
            command="",
            params={},
            tags=tags,
            start_time=int(args.get("start_time") or time.time() * 1000),
            pid=os.getpid(),
            host=os.uname().nodename,
        )
    )
    ep.owned.add(run_id)
    return {"run": ep.run_json(run_id)}


def log_param(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_batch(run_id, params={str(args.get("key")): str(args.get("value"))})


def log_metric(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_batch(run_id, metrics=[mm.metric_from_json(args)])


def set_tag(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_batch(run_id, tags={str(args.get("key")): str(args.get("value"))})


def delete_tag(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    ep.store.delete_tag(ep.writable(args), str(args.get("key")))


def log_batch(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    metrics = [mm.metric_from_json(m) for m in args.get("metrics") or []]
    params = mm.key_values(args.get("params"), "param")
    tags = mm.key_values(args.get("tags"), "tag")
    if (
        len(metrics) > mm.MAX_METRICS_PER_BATCH
        or len(params) > mm.MAX_PARAMS_PER_BATCH
        or len(tags) > mm.MAX_TAGS_PER_BATCH
    ):
        raise RestError(
            "INVALID_PARAMETER_VALUE",
            "a batch may hold at most 1000 metrics, 100 params and 100 tags",
        )
    ep.store.log_batch(run_id, params=params, metrics=metrics, tags=tags)


def log_inputs(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    datasets = []
    for item in args.get("datasets") or []:
        ds = dict(item.get("dataset") or {})
        ds["tags"] = item.get("tags") or []
        datasets.append(ds)
    ep.store.log_inputs(run_id, datasets)


def log_outputs(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_outputs(
        run_id, [(str(m["model_id"]), int(m.get("step") or 0)) for m in args.get("models") or []]
    )


def runs_search(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    try:
        offset = int(args.get("page_token") or 0)
    except ValueError:
        raise RestError("INVALID_PARAMETER_VALUE", "bad page_token") from None
    limit = int(args.get("max_results") or 1000)
    view = str(args.get("run_view_type") or "ACTIVE_ONLY")
    # One more than asked: whether it comes back says if there is a next page.
    runs = ep.store.search_runs(
        [str(e) for e in args.get("experiment_ids") or []] or None,
        limit=limit + 1,
        include_deleted=view != "ACTIVE_ONLY",
        filter_string=args.get("filter") or None,
        order_by=list(args.get("order_by") or []),
        offset=offset,
    )
    if view == "DELETED_ONLY":
        runs = [r for r in runs if r.lifecycle_stage == "deleted"]
    out: dict[str, Any] = {
        "runs": [
            mm.run_to_json(r, mm.file_uri(ep.store.artifact_dir(r.run_id))) for r in runs[:limit]
        ]
    }
    if len(runs) > limit:
        out["next_page_token"] = str(offset + limit)
    return out


def metric_history(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.store.get_run(ep.run_arg(args)).run_id
    key = str(args.get("metric_key") or "")
    return {"metrics": [mm.metric_to_json(m) for m in ep.store.metric_history(run_id, key)]}


# -- experiments -----------------------------------------------------------------------------


def experiment_get(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"experiment": ep.experiment_json(str(args.get("experiment_id") or ""))}


def experiment_by_name(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = str(args.get("experiment_name") or "")
    exp = ep.store.get_experiment_by_name(name)
    if exp is None:
        raise RestError("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
    return {"experiment": ep.experiment_json(exp.experiment_id)}


def experiment_create(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = str(args.get("name") or "")
    if not name:
        raise RestError("INVALID_PARAMETER_VALUE", "an experiment needs a name")
    if ep.store.get_experiment_by_name(name) is not None:
        raise RestError("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
    return {"experiment_id": ep.store.create_experiment(name).experiment_id}


def experiments_search(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    exps = ep.store.list_experiments()
    return {"experiments": [ep.experiment_json(e.experiment_id) for e in exps]}


ROUTES: Routes = {
    ("GET", "runs/get"): runs_get,
    ("POST", "runs/update"): runs_update,
    ("POST", "runs/create"): runs_create,
    ("POST", "runs/log-parameter"): log_param,
    ("POST", "runs/log-metric"): log_metric,
    ("POST", "runs/set-tag"): set_tag,
    ("POST", "runs/delete-tag"): delete_tag,
    ("POST", "runs/log-batch"): log_batch,
    ("POST", "runs/log-inputs"): log_inputs,
    ("POST", "runs/outputs"): log_outputs,
    ("POST", "runs/search"): runs_search,
    ("GET", "metrics/get-history"): metric_history,
    ("GET", "experiments/get"): experiment_get,
    ("GET", "experiments/get-by-name"): experiment_by_name,
    ("POST", "experiments/create"): experiment_create,
    ("POST", "experiments/search"): experiments_search,
    ("GET", "experiments/search"): experiments_search,
}
