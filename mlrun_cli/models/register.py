"""Registering a model by URI: a run's model (``runs:/<run>/<path>``), a logged model
(``m-<id>`` or ``models:/m-<id>``) or a model folder, as a new version of a name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import RegistryError, Store


def register(store: Store, uri: str, name: str, user: str | None = None) -> dict[str, Any]:
    """A new version of `name` (created if new) for the model at `uri`."""
    registry = store.registry()
    run_id: str | None = None
    model_id: str | None = None
    try:
        if uri.startswith("runs:/"):
            run_ref, _, path = uri[len("runs:/") :].partition("/")
            run_id = store.resolve_run_id(run_ref)
            source = f"runs:/{run_id}/{path.strip('/') or 'model'}"
            _check_files(store, registry.run_model_uri(run_id, path or "model"), uri)
        elif uri.startswith(("m-", "models:/m-")):
            model_id = uri.split("/")[-1] if uri.startswith("models:/") else uri
            registry.logged_model_uri(model_id)  # refused if there is none
            source = f"models:/{model_id}"
        elif uri.startswith("models:/"):
            raise TrackingError(
                f"{uri!r} is registered already; register runs:/<run>/<path>, a logged model "
                "id (m-...) or a model folder"
            )
        else:
            folder = Path(uri[len("file://") :] if uri.startswith("file://") else uri)
            folder = folder.expanduser().absolute()
            if not (folder / "MLmodel").is_file():
                raise TrackingError(f"no MLmodel file in {folder}; give a model folder")
            source = str(folder)
        try:
            registry.create_registered_model(name)
        except RegistryError as exc:
            if exc.code != "RESOURCE_ALREADY_EXISTS":
                raise
        return registry.create_model_version(
            name, source, run_id=run_id, model_id=model_id, user_id=user
        )
    except RegistryError as exc:
        raise TrackingError(f"cannot register {uri!r} as {name!r}: {exc}") from None


def _check_files(store: Store, where: str, uri: str) -> None:
    """Refuse a run path holding no model, where the files can be seen from here."""
    if not where.startswith("file://"):
        return
    from urllib.parse import unquote, urlsplit

    folder = Path(unquote(urlsplit(where).path))
    if not (folder / "MLmodel").is_file():
        raise TrackingError(
            f"{uri!r} holds no model (no MLmodel in {folder}); name the run's model, "
            "e.g. runs:/<run>/model"
        )
