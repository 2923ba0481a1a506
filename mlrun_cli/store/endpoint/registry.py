"""Route handlers of the loopback endpoint for MLflow's model registry.

Writes follow the token's rules: anyone holding it may create a registered model (as with
experiments) and register a version of what its runs logged. Curating the registry is open
to it, as on an MLflow server: aliases, tags, descriptions and stages of any model or version
(a promotion script sets `champion` on a version another run registered). Destroying is not:
it renames or deletes only the registered models it created and the versions registered from
its runs. Reads are open to the token. `mlrun models` is where a person deletes the rest.
"""

from __future__ import annotations

from mlrun_cli.store.mlflow_messages import RestError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.store.endpoint.context import Routes, ServedRun


def _name(args: dict[str, Any]) -> str:
    name = str(args.get("name") or "")
    if not name:
        raise RestError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'.")
    return name


def _version(args: dict[str, Any]) -> str:
    version = str(args.get("version") or "")
    if not version:
        raise RestError(
            "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'version'."
        )
    return version


def _page(args: dict[str, Any], default: int) -> tuple[int, int]:
    try:
        return int(args.get("max_results") or default), int(args.get("page_token") or 0)
    except ValueError:
        raise RestError("INVALID_PARAMETER_VALUE", "bad max_results or page_token") from None


def _tags(args: dict[str, Any]) -> dict[str, str]:
    from mlrun_cli.store.mlflow_messages import key_values

    return key_values(args.get("tags"), "tag")


# -- registered models ---------------------------------------------------------------------


def model_create(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    model = ep.store.create_registered_model(name, _tags(args), args.get("description"))
    ep.registered.add(name)
    return {"registered_model": model}


def model_get(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"registered_model": ep.store.get_registered_model(_name(args))}


def model_rename(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = ep.writable_registered(_name(args))
    new_name = str(args.get("new_name") or "")
    model = ep.store.rename_registered_model(name, new_name)
    ep.registered.add(new_name)
    ep.versions |= {(new_name, v) for n, v in ep.versions if n == name}
    return {"registered_model": model}


def model_update(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    description = str(args.get("description") or "")
    return {"registered_model": ep.store.update_registered_model(name, description)}


def model_delete(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    ep.store.delete_registered_model(ep.writable_registered(_name(args)))


def model_search(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    limit, offset = _page(args, 100)
    found = ep.store.search_registered_models(args.get("filter"), limit + 1, offset)
    out: dict[str, Any] = {"registered_models": found[:limit]}
    if len(found) > limit:
        out["next_page_token"] = str(offset + limit)
    return out


def latest_versions(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    stages = args.get("stages") or []
    if isinstance(stages, str):
        stages = [stages]
    return {"model_versions": ep.store.latest_versions(_name(args), list(stages))}


def model_set_tag(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    ep.store.set_registered_model_tag(name, str(args["key"]), str(args.get("value") or ""))


def model_delete_tag(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    ep.store.delete_registered_model_tag(_name(args), str(args["key"]))


def alias_set(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    version = ep.existing_version(name, _version(args))
    ep.store.set_alias(name, str(args.get("alias") or ""), version)


def alias_delete(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name, alias = _name(args), str(args.get("alias") or "")
    ep.store.get_version_by_alias(name, alias)  # RESOURCE_DOES_NOT_EXIST when it is not set
    ep.store.delete_alias(name, alias)


def alias_get(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"model_version": ep.store.get_version_by_alias(_name(args), str(args.get("alias")))}


# -- model versions ------------------------------------------------------------------------


def version_create(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    source = str(args.get("source") or "")
    run_id = str(args.get("run_id") or "") or None
    model_id = str(args.get("model_id") or "") or None
    if source.startswith("runs:/") and run_id is None:
        run_id = source[len("runs:/") :].split("/")[0]
    if run_id is not None and run_id not in ep.owned:
        raise RestError("PERMISSION_DENIED", f"cannot register a model of run {run_id}")
    if model_id is not None:
        ep.writable_model({"model_id": model_id})
    mv = ep.store.create_model_version(
        name,
        source,
        run_id=run_id,
        model_id=model_id,
        tags=_tags(args),
        description=args.get("description"),
        run_link=args.get("run_link"),
        user_id=ep.user,
    )
    ep.versions.add((name, str(mv["version"])))
    return {"model_version": mv}


def version_get(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"model_version": ep.store.get_model_version(_name(args), _version(args))}


def version_update(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    version = ep.existing_version(name, _version(args))
    description = str(args.get("description") or "")
    return {"model_version": ep.store.update_model_version(name, version, description)}


def version_stage(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    version = ep.existing_version(name, _version(args))
    archive = str(args.get("archive_existing_versions") or "").lower() == "true"
    mv = ep.store.transition_stage(name, version, str(args.get("stage") or ""), archive)
    return {"model_version": mv}


def version_delete(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    ep.store.delete_model_version(name, ep.writable_version(name, _version(args)))


def version_search(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    limit, offset = _page(args, 1000)
    found = ep.store.search_model_versions(args.get("filter"), limit + 1, offset)
    out: dict[str, Any] = {"model_versions": found[:limit]}
    if len(found) > limit:
        out["next_page_token"] = str(offset + limit)
    return out


def download_uri(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    return {"artifact_uri": ep.store.download_uri(_name(args), _version(args))}


def version_set_tag(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    version = ep.existing_version(name, _version(args))
    ep.store.set_model_version_tag(name, version, str(args["key"]), str(args.get("value") or ""))


def version_delete_tag(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    name = _name(args)
    version = ep.existing_version(name, _version(args))
    ep.store.delete_model_version_tag(name, version, str(args["key"]))


def server_info(ep: ServedRun, path: str, args: dict[str, Any]) -> Any:
    # What MLflow's server says of itself; the client reads the store type (and, for its
    # artifact proxy, which we do not need: artifacts are file:// paths, multipart support).
    return {"store_type": "SqlStore", "workspaces_enabled": False}


ROUTES: Routes = {
    ("POST", "registered-models/create"): model_create,
    ("POST", "registered-models/rename"): model_rename,
    ("PATCH", "registered-models/update"): model_update,
    ("DELETE", "registered-models/delete"): model_delete,
    ("GET", "registered-models/get"): model_get,
    ("GET", "registered-models/search"): model_search,
    ("POST", "registered-models/get-latest-versions"): latest_versions,
    ("GET", "registered-models/get-latest-versions"): latest_versions,
    ("POST", "registered-models/set-tag"): model_set_tag,
    ("DELETE", "registered-models/delete-tag"): model_delete_tag,
    ("POST", "registered-models/alias"): alias_set,
    ("DELETE", "registered-models/alias"): alias_delete,
    ("GET", "registered-models/alias"): alias_get,
    ("POST", "model-versions/create"): version_create,
    ("PATCH", "model-versions/update"): version_update,
    ("POST", "model-versions/transition-stage"): version_stage,
    ("DELETE", "model-versions/delete"): version_delete,
    ("GET", "model-versions/get"): version_get,
    ("GET", "model-versions/search"): version_search,
    ("GET", "model-versions/get-download-uri"): download_uri,
    ("POST", "model-versions/set-tag"): version_set_tag,
    ("DELETE", "model-versions/delete-tag"): version_delete_tag,
    ("GET", "server-info"): server_info,
}
