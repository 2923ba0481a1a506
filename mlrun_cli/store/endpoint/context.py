"""What a route handler of the loopback endpoint sees: the served run and its store.

Handlers are plain functions ``(served, path, args) -> JSON``, listed in a ``ROUTES`` dict by
each handler module (`runs`, `models`); the server (`server.Endpoint`) is a `ServedRun`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlrun_cli.errors import MlrunError
from mlrun_cli.store import mlflow_messages as mm
from mlrun_cli.store.mlflow_messages import RestError
from mlrun_cli.store.sqlite.store import SqliteStore

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any


class ServedRun:
    """The run an endpoint serves, the runs it may write, and the store holding them."""

    def __init__(self, store_root: Path, run_id: str, experiment_id: str, user: str) -> None:
        self.store = SqliteStore(store_root)  # a connection of its own, used under a lock
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.user = user
        self.owned = {run_id}  # runs this endpoint may write: ours and the nested ones
        self.models: set[str] = set()  # logged models created through this endpoint
        self.child_status: str | None = None  # a terminal status the child set on our run
        self.registered: set[str] = set()  # registered models created through this endpoint
        self.versions: set[tuple[str, str]] = set()  # model versions created through it

    def run_arg(self, args: dict[str, Any]) -> str:
        """The run a request names (``run_id``, or ``run_uuid`` of older clients)."""
        run_id = args.get("run_id") or args.get("run_uuid")
        if not run_id:
            raise RestError("INVALID_PARAMETER_VALUE", "run_id is required")
        return str(run_id)

    def writable(self, args: dict[str, Any]) -> str:
        """The run a request names, if this endpoint may write to it."""
        run_id = self.run_arg(args)
        if run_id not in self.owned:
            raise RestError(
                "PERMISSION_DENIED",
                f"this endpoint only accepts writes to run {self.run_id} and the runs it created",
            )
        return run_id

    def writable_model(self, args: dict[str, Any]) -> dict[str, Any]:
        """The logged model a request names, if this endpoint may write to it: one whose
        source run is ours (or nested in ours), or one created through this endpoint."""
        model_id = str(args.get("model_id") or "")
        model = self.store.get_logged_model(model_id)
        if model is None:
            raise RestError("RESOURCE_DOES_NOT_EXIST", f"Logged model {model_id} not found")
        if model.get("source_run_id") not in self.owned and model_id not in self.models:
            raise RestError(
                "PERMISSION_DENIED",
                f"this endpoint only accepts writes to the logged models of run {self.run_id} "
                "and the runs it created",
            )
        return model

    def writable_registered(self, name: str) -> str:
        """A registered model this endpoint may change: one it created."""
        if name not in self.registered:
            raise RestError(
                "PERMISSION_DENIED",
                f"this endpoint only changes the registered models run {self.run_id} created; "
                "use 'mlrun models' for others",
            )
        return name

    def existing_version(self, name: str, version: str) -> str:
        """The number of a model version that exists (its metadata is open to the token)."""
        return str(self.store.get_model_version(name, version)["version"])

    def writable_version(self, name: str, version: str) -> str:
        """A model version this endpoint may change: one it created, or one registered from
        a run it may write to."""
        mv = self.store.get_model_version(name, version)
        if (name, mv["version"]) not in self.versions and mv.get("run_id") not in self.owned:
            raise RestError(
                "PERMISSION_DENIED",
                f"this endpoint only changes the model versions of run {self.run_id} and the "
                "runs it created; use 'mlrun models' for others",
            )
        return str(mv["version"])

    def run_json(self, run_id: str) -> dict[str, Any]:
        run = self.store.get_run(run_id)
        return mm.run_to_json(
            run,
            mm.file_uri(self.store.artifact_dir(run.run_id)),
            inputs=self.store.run_inputs(run.run_id),
            outputs=self.store.run_outputs(run.run_id),
        )

    def experiment_json(self, experiment_id: str) -> dict[str, Any]:
        """The experiment as MLflow shows it; MLflow's 404 if there is none."""
        try:
            exp = self.store.get_experiment(experiment_id)
        except MlrunError:
            raise RestError(
                "RESOURCE_DOES_NOT_EXIST", f"no experiment with id {experiment_id!r}"
            ) from None
        return mm.experiment_to_json(exp, mm.file_uri(self.store.root / "runs"))


if TYPE_CHECKING:
    Handler = Callable[[ServedRun, str, dict[str, Any]], Any]
    Routes = dict[tuple[str, str], Handler]  # (method, path under the API prefix) -> handler
