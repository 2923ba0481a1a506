"""The store owns all persistence: runs, metrics, params, tags, artifacts, sweeps, models.

`open_store` chooses one by tracking URI. The Protocol and the value objects are in
`mlrun_cli.store.base`; the embedded store is `sqlite`, an MLflow tracking server is
`mlflow_rest`, and `endpoint` is the loopback MLflow REST face of the embedded store.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlrun_cli.errors import TrackingError
from mlrun_cli.store.base import Store

_MLFLOW_SCHEMES = {
    "sqlite",
    "file",
    "postgresql",
    "postgres",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
    "uc",
}


def resolve_tracking_uri(explicit: str | None) -> str:
    """`--tracking-uri` > ``MLRUN_TRACKING_URI`` > an http(s) ``MLFLOW_TRACKING_URI`` > the
    embedded store in ``./.mlrun``."""
    from mlrun_cli.paths import default_store_dir

    uri = explicit or os.environ.get("MLRUN_TRACKING_URI")
    if uri:
        return uri
    mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if mlflow_uri.lower().startswith(("http://", "https://")):
        return mlflow_uri  # a team's MLflow server; any other MLFLOW_TRACKING_URI is the child's
    from mlrun_cli.config import configured

    return str(configured("tracking_uri") or default_store_dir())  # a config file's, if any


def open_store(uri: str) -> Store:
    """Open the store named by `uri`. MLflow store URIs are refused, never opened as ours."""
    scheme, sep, rest = uri.partition(":")
    if sep and len(scheme) > 1 and "/" not in scheme:
        scheme = scheme.lower()
        if scheme == "mlrun":
            path = rest[2:] if rest.startswith("//") else rest
            return _embedded(Path(path or ".mlrun"), uri)
        if scheme in _MLFLOW_SCHEMES or scheme.startswith(("mysql+", "postgresql+", "mssql+")):
            raise TrackingError(
                f"tracking URI {uri!r} is an MLflow store; mlrun records into its own store "
                "(a directory such as ./.mlrun) or an MLflow server (http://...); pass one of "
                "those with --tracking-uri"
            )
        if scheme in ("http", "https"):
            from mlrun_cli.store.mlflow_rest.store import MlflowRestStore

            return MlflowRestStore(uri)
        raise TrackingError(
            f"tracking URI {uri!r}: unknown scheme {scheme!r}; use a store directory "
            "(./.mlrun or mlrun:///abs/path)"
        )
    return _embedded(Path(uri), uri)


def _embedded(path: Path, uri: str) -> Store:
    from mlrun_cli.store.sqlite.store import SqliteStore

    path = path.expanduser().absolute()
    # Ours if it has our index or our run folders (an index lost beside them is still ours:
    # `mlrun store repair` rebuilds it; a logged model's `models/` folder is not MLflow's).
    ours = (path / "mlrun.db").exists() or (path / "runs").is_dir()
    if path.is_dir() and not ours and _looks_like_mlflow(path):
        raise TrackingError(
            f"tracking URI {uri!r} is an MLflow file store (mlruns layout), not an mlrun store; "
            "pass another directory"
        )
    if path.exists() and not path.is_dir():
        raise TrackingError(f"tracking URI {uri!r} is a file, not a store directory")
    return SqliteStore(path)


def _looks_like_mlflow(path: Path) -> bool:
    return (
        (path / ".trash").is_dir()
        or (path / "0" / "meta.yaml").is_file()
        or (path / "models").is_dir()
    )
