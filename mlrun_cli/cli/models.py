"""`mlrun models list|show|register|alias|delete|serve|predict`: the model registry, and
serving or scoring a model in its own environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from mlrun_cli import console
from mlrun_cli.cli.options import Group, json_option, read_tracking_option, tracking_option
from mlrun_cli.cli.render import fmt_time
from mlrun_cli.cli.stores import open_cli_store
from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import RegistryError, Store


def _registry_error(exc: RegistryError, what: str) -> TrackingError:
    return TrackingError(f"{what}: {exc}")


def _aliases(mv: dict[str, Any]) -> str:
    return ",".join(mv.get("aliases") or [])


@click.group("models", cls=Group)
def models() -> None:
    """Register, alias, list, serve and score models.

    Examples:

    \b
      mlrun models register runs:/3f2a9c1b/model iris
      mlrun models alias iris champion 1
      mlrun models serve models:/iris@champion --port 5001
    """


@models.command("list")
@read_tracking_option
@json_option
def models_list(tracking_uri: str | None, as_json: bool) -> None:
    """The registered models, their latest version and aliases.

    Examples:

    \b
      mlrun models list
      mlrun models list --json | jq '.models[].name'
    """
    store = open_cli_store(tracking_uri)
    found = store.registry().search_registered_models(None, 1000)
    if as_json:
        console.json_out({"schema": "mlrun.models/1", "models": found})
        return
    if not found:
        console.info("no registered models; register one with 'mlrun models register URI NAME'")
        return
    rows = []
    for m in found:
        latest = max((int(v["version"]) for v in m.get("latest_versions") or []), default=0)
        aliases = ",".join(f"{a['alias']}={a['version']}" for a in m.get("aliases") or [])
        rows.append((m["name"], latest or "", aliases, fmt_time(m.get("last_updated_timestamp"))))
    console.table(None, ["name", "latest", "aliases", "updated"], rows)


@models.command("show")
@click.argument("name")
@read_tracking_option
@json_option
def models_show(name: str, tracking_uri: str | None, as_json: bool) -> None:
    """One registered model and every version of it.

    Examples:

    \b
      mlrun models show iris
      mlrun models show iris --json | jq '.versions[0].run_id'
    """
    store = open_cli_store(tracking_uri)
    registry = store.registry()
    try:
        model = registry.get_registered_model(name)
    except RegistryError as exc:
        raise TrackingError(f"{exc}; 'mlrun models list' shows the registered models") from None
    quoted = name.replace("'", "''")
    versions = registry.search_model_versions(f"name = '{quoted}'", 10000)
    # A server's search leaves the aliases out of its versions: they are the model's.
    for v in versions:
        v["aliases"] = sorted(
            a["alias"] for a in model.get("aliases") or [] if str(a["version"]) == v["version"]
        )
    if as_json:
        console.json_out({"schema": "mlrun.model/1", "model": model, "versions": versions})
        return
    console.out(
        f"model {model['name']}" + (f"  {model['description']}" if model["description"] else "")
    )
    tags = [(t["key"], t["value"]) for t in model.get("tags") or []]
    if tags:
        console.table("tags", ["name", "value"], tags)
    console.table(
        "versions",
        ["version", "stage", "aliases", "run", "created", "source"],
        [
            (
                v["version"],
                v["current_stage"],
                _aliases(v),
                (v.get("run_id") or "")[:8],
                fmt_time(v.get("creation_timestamp")),
                v["source"],
            )
            for v in versions
        ],
    )


@models.command("register")
@click.argument("uri")
@click.argument("name")
@tracking_option
@json_option
def models_register(uri: str, name: str, tracking_uri: str | None, as_json: bool) -> None:
    """Register the model at URI as a new version of NAME (created if new).

    URI is runs:/<run>/<path>, a logged model id (m-...) or a model folder.

    Examples:

    \b
      mlrun models register runs:/3f2a9c1b/model iris
      mlrun models register m-5d0c1e0a9b8f47d6a1c2b3e4f5a6b7c8 iris --json
    """
    from mlrun_cli.models.register import register

    store = open_cli_store(tracking_uri)
    mv = register(store, uri, name, os.environ.get("USER"))
    if as_json:
        console.json_out({"schema": "mlrun.model-version/1", "model_version": mv})
        return
    console.info(f"registered {uri} as {name} version {mv['version']}")


@models.command("alias")
@click.argument("name")
@click.argument("alias")
@click.argument("version")
@tracking_option
@json_option
def models_alias(
    name: str, alias: str, version: str, tracking_uri: str | None, as_json: bool
) -> None:
    """Point ALIAS of model NAME at VERSION (moving it if it pointed elsewhere).

    Examples:

    \b
      mlrun models alias iris champion 3
      mlrun models alias iris challenger 4 --json
    """
    registry = open_cli_store(tracking_uri).registry()
    try:
        registry.set_alias(name, alias, version)
        mv = registry.get_version_by_alias(name, alias)
    except RegistryError as exc:
        raise _registry_error(exc, f"cannot set alias {alias!r} of {name!r}") from None
    if as_json:
        console.json_out({"schema": "mlrun.model-version/1", "model_version": mv})
        return
    console.info(f"{name}@{alias} is version {mv['version']}")


@models.command("delete")
@click.argument("name")
@click.option("--version", "version", metavar="V", help="Delete only this version.")
@tracking_option
@json_option
def models_delete(name: str, version: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Delete a registered model with all its versions, or one version of it.

    The model files stay where the runs logged them.

    Examples:

    \b
      mlrun models delete iris --version 2
      mlrun models delete iris
    """
    registry = open_cli_store(tracking_uri).registry()
    try:
        if version is not None:
            registry.delete_model_version(name, version)
        else:
            registry.delete_registered_model(name)
    except RegistryError as exc:
        raise _registry_error(exc, f"cannot delete {name!r}") from None
    what = f"{name} version {version}" if version is not None else name
    if as_json:
        console.json_out({"schema": "mlrun.model-deleted/1", "name": name, "version": version})
        return
    console.info(f"deleted {what}")


def _prepared(store: Store, uri: str, env_manager: str | None) -> tuple[Path, str, dict[str, str]]:
    """The model's folder, its interpreter, and the environment to run it with."""
    from mlrun_cli.models.env import model_env
    from mlrun_cli.models.locate import locate

    model_dir = locate(store, uri)
    env, python = model_env(model_dir, env_manager)
    child = dict(os.environ)
    if env.bin_dir is not None:
        child["PATH"] = f"{env.bin_dir}{os.pathsep}{child.get('PATH', '')}"
        child["VIRTUAL_ENV"] = str(env.bin_dir.parent)
    child.update(env.extra_env)
    how = "reused" if env.reused else "built"
    console.info(
        f"model {uri}: {model_dir} (env {env.manager}{'' if env.manager == 'local' else ', ' + how})"
    )
    return model_dir, python, child


def _env_option(f: Any) -> Any:
    from mlrun_cli.cli.options import env_manager_option

    return env_manager_option(
        "How to make the model's environment (default: uv from its python_env.yaml; "
        "local: the current one)."
    )(f)


@models.command("serve")
@click.argument("uri")
@click.option("--port", type=int, default=5001, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@_env_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes sharing the port (the model is loaded once).",
)
@read_tracking_option
def models_serve(
    uri: str, port: int, host: str, env_manager: str | None, workers: int, tracking_uri: str | None
) -> int:
    """Serve a model over HTTP with MLflow's scoring protocol (/ping, /invocations).

    URI is models:/NAME/VERSION, models:/NAME@ALIAS, models:/<model id>, runs:/<run>/<path>
    or a model folder. Ctrl-C stops it.

    Examples:

    \b
      mlrun models serve models:/iris@champion
      mlrun models serve runs:/3f2a9c1b/model --port 8080 --env-manager local
      mlrun models serve models:/iris/3 --workers 2 --host 0.0.0.0
    """
    from mlrun_cli.models.serve import bind, serve

    store = open_cli_store(tracking_uri)
    sock = bind(host, port)
    try:
        model_dir, python, child = _prepared(store, uri, env_manager)
    except BaseException:
        sock.close()
        raise
    console.info(f"serving on http://{host}:{port}; Ctrl-C to stop")
    return serve(python, model_dir, sock, workers, child)


@models.command("predict")
@click.argument("uri")
@click.option(
    "-i",
    "--input",
    "source",
    required=True,
    type=click.Path(path_type=Path),
    help="Input file: .csv, .json (MLflow's scoring JSON) or .parquet.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the predictions JSON here (default: stdout).",
)
@_env_option
@read_tracking_option
def models_predict(
    uri: str, source: Path, output: Path | None, env_manager: str | None, tracking_uri: str | None
) -> int:
    """Score a file with a model, in the model's environment (like `mlflow models predict`).

    Examples:

    \b
      mlrun models predict models:/iris@champion -i rows.csv
      mlrun models predict runs:/3f2a9c1b/model -i rows.json -o predictions.json
    """
    from mlrun_cli.models.serve import predict

    store = open_cli_store(tracking_uri)
    model_dir, python, child = _prepared(store, uri, env_manager)
    return predict(python, model_dir, source.absolute(), output, child)
