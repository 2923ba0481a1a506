"""The model registry of an MLflow tracking server, over its REST API (no mlflow package).

The server's answers are already in the shapes `Registry` returns; its refusals become a
`RegistryError` carrying MLflow's error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlrun_cli.store.base import RegistryError
from mlrun_cli.store.mlflow_rest.client import ARTIFACTS_API, RestClient, ServerError

if TYPE_CHECKING:
    from mlrun_cli.store.base import Registry


def _tags(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]


def _version(mv: Mapping[str, Any]) -> dict[str, Any]:
    """A model version as the server sent it, with the fields its JSON leaves out when empty."""
    out = dict(mv)
    for key, empty in (("aliases", []), ("tags", []), ("description", ""), ("user_id", "")):
        out.setdefault(key, empty)
    out.setdefault("current_stage", "None")
    return out


def _model(m: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(m)
    for key, empty in (("aliases", []), ("tags", []), ("description", ""), ("latest_versions", [])):
        out.setdefault(key, empty)
    out["latest_versions"] = [_version(v) for v in out["latest_versions"]]
    return out


class RestRegistry:
    """`Registry` over a server's ``registered-models`` and ``model-versions`` routes."""

    def __init__(self, client: RestClient) -> None:
        self.client = client

    def _call(
        self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return self.client.request(method, path, body, query=query)
        except ServerError as exc:
            if exc.code:
                message = str(exc).rsplit("): ", 1)[-1]
                raise RegistryError(exc.code, message) from None
            raise

    def create_registered_model(
        self, name: str, tags: Mapping[str, str] | None = None, description: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "tags": _tags(tags), "description": description or ""}
        data = self._call("POST", "registered-models/create", body)
        return _model(data["registered_model"])

    def get_registered_model(self, name: str) -> dict[str, Any]:
        data = self._call("GET", "registered-models/get", query={"name": name})
        return _model(data["registered_model"])

    def search_registered_models(
        self, filter_string: str | None = None, max_results: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        found = self._search(
            "registered-models/search", "registered_models", filter_string, max_results, offset
        )
        return [_model(m) for m in found]

    def _search(
        self, path: str, key: str, filter_string: str | None, max_results: int, offset: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        token = None
        while len(found) < offset + max_results:
            query: dict[str, Any] = {"max_results": min(1000, offset + max_results)}
            if filter_string:
                query["filter"] = filter_string
            if token:
                query["page_token"] = token
            data = self._call("GET", path, query=query)
            found += data.get(key, [])
            token = data.get("next_page_token")
            if not token:
                break
        return found[offset : offset + max_results]

    def rename_registered_model(self, name: str, new_name: str) -> dict[str, Any]:
        data = self._call("POST", "registered-models/rename", {"name": name, "new_name": new_name})
        return _model(data["registered_model"])

    def update_registered_model(self, name: str, description: str) -> dict[str, Any]:
        body = {"name": name, "description": description}
        return _model(self._call("PATCH", "registered-models/update", body)["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", "registered-models/delete", {"name": name})

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("POST", "registered-models/set-tag", {"name": name, "key": key, "value": value})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", "registered-models/delete-tag", {"name": name, "key": key})

    def set_alias(self, name: str, alias: str, version: str) -> None:
        body = {"name": name, "alias": alias, "version": str(version)}
        self._call("POST", "registered-models/alias", body)

    def delete_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", "registered-models/alias", {"name": name, "alias": alias})

    def get_version_by_alias(self, name: str, alias: str) -> dict[str, Any]:
        data = self._call("GET", "registered-models/alias", query={"name": name, "alias": alias})
        return _version(data["model_version"])

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        model_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        run_link: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "source": source, "tags": _tags(tags)}
        for key, value in (
            ("run_id", run_id),
            ("model_id", model_id),
            ("description", description),
            ("run_link", run_link),
        ):
            if value:
                body[key] = value
        return _version(self._call("POST", "model-versions/create", body)["model_version"])

    def get_model_version(self, name: str, version: str) -> dict[str, Any]:
        data = self._call("GET", "model-versions/get", query={"name": name, "version": version})
        return _version(data["model_version"])

    def update_model_version(self, name: str, version: str, description: str) -> dict[str, Any]:
        body = {"name": name, "version": str(version), "description": description}
        return _version(self._call("PATCH", "model-versions/update", body)["model_version"])

    def transition_stage(
        self, name: str, version: str, stage: str, archive_existing: bool = False
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing,
        }
        return _version(
            self._call("POST", "model-versions/transition-stage", body)["model_version"]
        )

    def delete_model_version(self, name: str, version: str) -> None:
        self._call("DELETE", "model-versions/delete", {"name": name, "version": str(version)})

    def search_model_versions(
        self, filter_string: str | None = None, max_results: int = 1000, offset: int = 0
    ) -> list[dict[str, Any]]:
        found = self._search(
            "model-versions/search", "model_versions", filter_string, max_results, offset
        )
        return [_version(v) for v in found]

    def latest_versions(self, name: str, stages: Sequence[str] = ()) -> list[dict[str, Any]]:
        body = {"name": name, "stages": list(stages)}
        data = self._call("POST", "registered-models/get-latest-versions", body)
        return [_version(v) for v in data.get("model_versions", [])]

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": value}
        self._call("POST", "model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        body = {"name": name, "version": str(version), "key": key}
        self._call("DELETE", "model-versions/delete-tag", body)

    def download_uri(self, name: str, version: str) -> str:
        query = {"name": name, "version": str(version)}
        return str(
            self._call("GET", "model-versions/get-download-uri", query=query)["artifact_uri"]
        )

    # -- where a model's files are -------------------------------------------------------------

    def logged_model_uri(self, model_id: str) -> str:
        data = self._call("GET", f"logged-models/{quote(model_id)}")
        return str(data["model"]["info"]["artifact_uri"])

    def run_model_uri(self, run_id: str, path: str) -> str:
        run = self._call("GET", "runs/get", query={"run_id": run_id})["run"]["info"]
        name = path.strip("/")
        body = {
            "experiment_ids": [run["experiment_id"]],
            "filter": f"name = '{name}'" if "'" not in name else "",
        }
        for model in self._call("POST", "logged-models/search", body).get("models", []):
            info = model.get("info", {})
            if info.get("source_run_id") == run_id and info.get("name") == name:
                return str(info["artifact_uri"])
        return str(run["artifact_uri"]).rstrip("/") + "/" + name

    def fetch(self, uri: str, dest: Path) -> Path:
        """The files at `uri`: a local path as it is; the server's artifact proxy
        (``mlflow-artifacts:/...``) downloaded into `dest`."""
        from urllib.parse import unquote, urlsplit

        if uri.startswith("file://"):
            return Path(unquote(urlsplit(uri).path))
        # A version registered by a URI of the server's (its download URI is the source).
        if uri.startswith("runs:/"):
            run_id, _, path = uri[len("runs:/") :].partition("/")
            return self.fetch(self.run_model_uri(run_id, path), dest)
        if uri.startswith("models:/m-"):
            return self.fetch(self.logged_model_uri(uri[len("models:/") :]), dest)
        if not uri.startswith("mlflow-artifacts:"):
            raise RegistryError(
                "INVALID_PARAMETER_VALUE",
                f"cannot read model files at {uri}: only the server's artifact proxy "
                "(mlflow-artifacts:/) and local paths can be read",
            )
        prefix = urlsplit(uri).path.strip("/")
        stack = [""]
        while stack:
            sub = stack.pop()
            query = {"path": f"{prefix}/{sub}".rstrip("/")}
            listing = self.client.request("GET", "", query=query, api=ARTIFACTS_API)
            for f in listing.get("files", []):
                rel = f"{sub}/{f['path']}".lstrip("/")
                if f.get("is_dir"):
                    stack.append(rel)
                    continue
                content = self.client.request(
                    "GET", quote(f"/{prefix}/{rel}"), api=ARTIFACTS_API, binary=True
                )
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
        return dest


if TYPE_CHECKING:
    # mypy checks here that the server's registry keeps the whole contract of base.py.
    def _is_a_registry(client: RestClient) -> Registry:
        return RestRegistry(client)
