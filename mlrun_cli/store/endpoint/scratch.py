"""The loopback MLflow endpoint on a cluster node, where the store's SQLite must not be opened.

The endpoint serves the command's `mlflow.*` calls from a scratch store on the node's local
disk (a copy of just this run), and what the command logs there is exported as lines of the
run's events file on the shared filesystem, which the submitting side ingests like any other
event. Files logged through the endpoint are moved into the run's artifacts at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlrun_cli.store.base import NewRun
from mlrun_cli.store.events import append_events
from mlrun_cli.store.sqlite.store import SqliteStore


class ScratchEndpoint:
    """A node-local store holding one run, an Endpoint serving it, and an exporter."""

    def __init__(
        self,
        run_id: str,
        experiment_id: str,
        user: str,
        params: Mapping[str, str],
        events: Path,
        artifacts: Path,
    ) -> None:
        from mlrun_cli.store.endpoint.server import Endpoint

        self.run_id = run_id
        self.events = events
        self.artifacts = artifacts
        self.root = Path(tempfile.mkdtemp(prefix=f"mlrun-{run_id[:8]}-"))
        self.store = SqliteStore(self.root)
        now = int(time.time() * 1000)
        self.store.ensure_experiment(experiment_id, f"experiment-{experiment_id}")
        self.store.create_run(
            NewRun(
                run_id=run_id,
                experiment_id=experiment_id,
                name=run_id,
                user=user,
                command="",
                params=dict(params),
                tags={},
                start_time=now,
            )
        )
        self._metric_row = 0  # the store's cursor of the last metric exported
        self._params: dict[str, str] = dict(params)  # known to the store already
        self._tags: dict[str, str] = dict(self.store.load_runs([run_id])[0].tags)
        self.endpoint = Endpoint(self.root, run_id, experiment_id, user)
        self.endpoint.start()

    def child_env(self) -> dict[str, str]:
        return self.endpoint.child_env()

    @property
    def child_status(self) -> str | None:
        return self.endpoint.child_status

    def export(self) -> None:
        """Append what the command logged since the last export to the events file."""
        (run,) = self.store.load_runs([self.run_id])
        lines: list[dict[str, object]] = []
        for key, value in run.params.items():
            if self._params.get(key) != value:
                self._params[key] = value
                lines.append({"type": "param", "key": key, "value": value})
        for key, value in run.tags.items():
            if self._tags.get(key) != value:
                self._tags[key] = value
                lines.append({"type": "tag", "key": key, "value": value})
        for cursor, m in self.store.metrics_since(self.run_id, self._metric_row):
            self._metric_row = cursor
            lines.append(
                {
                    "type": "metric",
                    "key": m.key,
                    "value": m.value,
                    "step": m.step,
                    "timestamp": m.timestamp,
                }
            )
        append_events(self.events, lines)

    def close(self) -> list[str]:
        """Stop serving, export the rest, move logged files; returns warnings to show."""
        self.endpoint.stop()
        warnings = []
        try:
            self.export()
            nested = self.endpoint.owned - {self.run_id}
            if nested:
                warnings.append(
                    f"{len(nested)} nested run(s) the command started on the node are not "
                    "recorded (a cluster run records its own run only)"
                )
            logged = self.store.artifact_dir(self.run_id)
            if logged.is_dir():
                for path in sorted(p for p in logged.rglob("*") if p.is_file()):
                    target = self.artifacts / path.relative_to(logged)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(path), target)
        finally:
            self.store.close()
            with contextlib.suppress(OSError):
                shutil.rmtree(self.root)
        return warnings


def open_scratch(job: Mapping[str, Any], run_dir: Path) -> ScratchEndpoint:
    return ScratchEndpoint(
        run_id=str(job["run_id"]),
        experiment_id=str(job["experiment_id"]),
        user=str(job.get("user") or os.environ.get("USER") or "unknown"),
        params=dict(job.get("params") or {}),
        events=run_dir / "events.jsonl",
        artifacts=run_dir / "artifacts",
    )
