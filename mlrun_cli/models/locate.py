"""A model URI to the local folder holding the model (its ``MLmodel`` file).

``models:/<name>/<version>``, ``models:/<name>/latest``, ``models:/<name>/<stage>``,
``models:/<name>@<alias>`` and ``models:/<model id>`` are read from the store's registry;
``runs:/<run>/<path>`` is the run's logged model of that name (MLflow 3) or its files; any
other URI is a path (``file://`` or plain). A server's files are downloaded once into the
cache, keyed by where they are.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from mlrun_cli.errors import TrackingError
from mlrun_cli.paths import tool_path
from mlrun_cli.store.base import Registry, RegistryError, Store

_STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


def version_of(registry: Registry, ref: str) -> dict[str, Any]:
    """The model version ``<name>/<version|latest|stage>`` or ``<name>@<alias>`` names."""
    if "@" in ref:
        name, _, alias = ref.rpartition("@")
        return registry.get_version_by_alias(name, alias)
    name, sep, version = ref.rpartition("/")
    if not sep or not name:
        raise RegistryError(
            "INVALID_PARAMETER_VALUE",
            f"'models:/{ref}' names no version; use models:/NAME/VERSION, models:/NAME@ALIAS "
            "or models:/<model id>",
        )
    if version.isdigit():
        return registry.get_model_version(name, version)
    stages = [] if version.lower() == "latest" else [_STAGES.get(version.lower(), version)]
    found = registry.latest_versions(name, stages)
    if not found:
        raise RegistryError("RESOURCE_DOES_NOT_EXIST", f"model {name!r} has no {version} version")
    return max(found, key=lambda mv: int(mv["version"]))


def files_uri(store: Store, uri: str) -> str:
    """Where the files of the model `uri` names are (a URI of the store's artifacts)."""
    registry = store.registry()
    try:
        if uri.startswith("models:/"):
            ref = uri[len("models:/") :].strip("/")
            if ref.startswith("m-") and "/" not in ref and "@" not in ref:
                return registry.logged_model_uri(ref)
            mv = version_of(registry, ref)
            return registry.download_uri(mv["name"], str(mv["version"]))
        if uri.startswith("runs:/"):
            run_ref, _, path = uri[len("runs:/") :].partition("/")
            return registry.run_model_uri(store.resolve_run_id(run_ref), path or "model")
    except RegistryError as exc:
        raise TrackingError(f"model URI {uri!r}: {exc}") from None
    return uri if "://" in uri else Path(uri).expanduser().absolute().as_uri()


def locate(store: Store, uri: str) -> Path:
    """The local folder of the model `uri` names; one clear error if there is none."""
    where = files_uri(store, uri)
    dest = tool_path("cache") / "models" / hashlib.sha256(where.encode()).hexdigest()[:16]
    try:
        if (dest / "MLmodel").is_file():
            folder = dest
        else:
            tmp = Path(f"{dest}.{os.getpid()}.tmp")
            folder = store.registry().fetch(where, tmp)
            if folder == tmp:  # downloaded: moved into place whole, or not at all
                dest.parent.mkdir(parents=True, exist_ok=True)
                if (tmp / "MLmodel").is_file():
                    os.replace(tmp, dest)
                    folder = dest
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
    except RegistryError as exc:
        raise TrackingError(f"model URI {uri!r}: {exc}") from None
    if not (folder / "MLmodel").is_file():
        raise TrackingError(
            f"model URI {uri!r}: no MLmodel file in {folder}; give a model folder, "
            "runs:/<run>/<path>, or models:/NAME/VERSION"
        )
    return folder
