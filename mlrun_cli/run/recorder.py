"""Where what a running command logs goes, while it runs: the `Recorder` of a launch.

A local run records into the store it was created in (`StoreRecorder`); a cluster node
records into its run folder (`mlrun_cli.cluster.node`). Either way the command sees the same
contract: the events file, and an mlflow client pointed at a loopback endpoint or a server.
"""

from __future__ import annotations

import time
from pathlib import Path

from mlrun_cli.envs import Environment
from mlrun_cli.paths import EVENTS_FILE, INGESTED_MARK
from mlrun_cli.run.child import point_mlflow
from mlrun_cli.run.provenance import env_tags
from mlrun_cli.store.base import TERMINAL, Store

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # the protocols below are for type checkers only

if TYPE_CHECKING:
    from mlrun_cli.run.capture import MetricCapture
    from mlrun_cli.store.endpoint.server import Endpoint


class Recorder(Protocol):
    def point(self, child_env: dict[str, str]) -> None:
        """Point the child's mlflow client where this recorder records."""
        ...

    def tick(self) -> None:
        """Record what the command logged since the last tick (events, captured metrics)."""
        ...

    def child_status(self) -> str | None:
        """The status the child's own mlflow client set on the run, if any."""
        ...

    def close(self, status: str) -> list[str]:
        """The run ended with `status`: stop serving, end what the child left open.
        Returns warnings to show."""
        ...

    def record_env(self, env: Environment) -> None:
        """Record the environment the run uses (tags), where it was built by the runner."""
        ...


class StoreRecorder:
    """Records into `store` directly; on the embedded store it serves the loopback MLflow
    endpoint to the child, on a server store the child's mlflow client resumes the run there."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        experiment_id: str,
        user: str,
        project_dir: Path,
        capture: MetricCapture | None,
        *,
        endpoint: bool,
        run_dir: Path | None = None,
    ) -> None:
        from mlrun_cli.store.events import EventReader, drainer

        self.store = store
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.user = user
        self.serve_endpoint = endpoint
        # A node names its run folder itself: a server store's local folder is elsewhere.
        folder = run_dir or store.run_dir(run_id)
        artifacts = run_dir / "artifacts" if run_dir is not None else store.artifact_dir(run_id)
        events = EventReader(folder / EVENTS_FILE, project_dir)
        # On the embedded store a finder of this run, if its runner dies, records the rest of
        # the events file from where this recorder stopped (run.lost).
        mark = folder / INGESTED_MARK if store.index() is not None else None
        self._drain = drainer(events, run_id, store.log_batch, artifacts, capture, mark)
        self.endpoint: Endpoint | None = None

    def point(self, child_env: dict[str, str]) -> None:
        index = self.store.index()
        if self.serve_endpoint and index is not None:
            from mlrun_cli.store.endpoint.server import Endpoint

            # Bound now, served from a thread: the child needs a second or more to import
            # mlflow, so serving costs nothing on the critical path.
            self.endpoint = Endpoint(index.root, self.run_id, self.experiment_id, self.user)
            self.endpoint.start()
            point_mlflow(child_env, endpoint_env=self.endpoint.child_env())
        elif self.store.server() is not None:
            point_mlflow(
                child_env,
                server_uri=self.store.shown,
                run_id=self.run_id,
                experiment_id=self.experiment_id,
            )

    def tick(self) -> None:
        self._drain()

    def child_status(self) -> str | None:
        return self.endpoint.child_status if self.endpoint is not None else None

    def close(self, status: str) -> list[str]:
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is not None:
            endpoint.stop()
            end_nested(self.store, endpoint.owned - {self.run_id}, status)
        return []

    def record_env(self, env: Environment) -> None:
        if tags := env_tags(env):
            self.store.log_batch(self.run_id, tags=tags)


def end_nested(store: Store, run_ids: set[str], status: str) -> None:
    """Nested runs the child created and left RUNNING end with their parent's status."""
    for rid in run_ids:
        run = store.get_run(rid)
        if run.status not in TERMINAL:
            store.set_terminated(rid, status, int(time.time() * 1000), None)
