"""Route handlers of the loopback endpoint for MLflow 3's logged models."""

from __future__ import annotations

from mlrun_cli.errors import MlrunError
from mlrun_cli.store import mlflow_messages as mm
from mlrun_cli.store.mlflow_messages import RestError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.store.endpoint.context import Routes, ServedRun


def model_create(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    experiment_id = str(args.get("experiment_id") or ep.experiment_id)
    ep.experiment_json(experiment_id)
    source_run = args.get("source_run_id")
    if source_run and str(source_run) not in ep.owned:
        raise RestError("PERMISSION_DENIED", f"cannot log a model for run {source_run}")
    model = ep.store.create_logged_model(
        experiment_id,
        str(args.get("name") or "model"),
        str(source_run) if source_run else None,
        args.get("model_type"),
        mm.key_values(args.get("params"), "param"),
        mm.key_values(args.get("tags"), "tag"),
    )
    ep.models.add(str(model["model_id"]))
    return {"model": mm.logged_model_to_json(model)}


def _model(ep: ServedRun, args: dict[str, Any]) -> dict[str, Any]:
    model = ep.store.get_logged_model(str(args.get("model_id") or ""))
    if model is None:
        raise RestError("RESOURCE_DOES_NOT_EXIST", f"Logged model {args.get('model_id')} not found")
    return model


def model_get(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"model": mm.logged_model_to_json(_model(ep, args))}


def model_finalize(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    model = ep.writable_model(args)
    ep.store.update_logged_model(str(model["model_id"]), status=args.get("status"))
    return {"model": mm.logged_model_to_json(_model(ep, args))}


def model_tags(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    model = ep.writable_model(args)
    ep.store.update_logged_model(
        str(model["model_id"]), tags=mm.key_values(args.get("tags"), "tag")
    )
    return {}


def model_search(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    equals: dict[str, str] = {}
    text = str(args.get("filter") or "").strip()
    if text:
        import re

        for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
            m = re.fullmatch(r"\s*`?(\w+)`?\s*=\s*(['\"])(.*)\2\s*", clause)
            if m is None:
                raise RestError(
                    "INVALID_PARAMETER_VALUE", f"unsupported logged-model filter {text!r}"
                )
            equals[m.group(1)] = m.group(3)
    try:
        models = ep.store.search_logged_models(
            [str(e) for e in args.get("experiment_ids") or []], equals
        )
    except MlrunError as exc:
        raise RestError("INVALID_PARAMETER_VALUE", str(exc)) from None
    return {"models": [mm.logged_model_to_json(m) for m in models]}


# "{id}" stands for the model id in the path; the server passes it as args["model_id"].
ROUTES: Routes = {
    ("POST", "logged-models"): model_create,
    ("GET", "logged-models/{id}"): model_get,
    ("PATCH", "logged-models/{id}"): model_finalize,
    ("PATCH", "logged-models/{id}/tags"): model_tags,
    ("POST", "logged-models/search"): model_search,
}
