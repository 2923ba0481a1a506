"""A store on an MLflow tracking server, spoken to over its REST API (no mlflow package).

The HTTP side (auth, retries, errors) is `mlrun_cli.store.mlflow_rest.client`. While a run
executes, a write that still fails after the retries is kept in the run's local spool folder
and sent later by `mlrun runs sync`.

Files are staged in the spool folder while the run executes and uploaded through the
server's artifact proxy (``/api/2.0/mlflow-artifacts/``) when the run's artifact URI is
``mlflow-artifacts:``; otherwise they stay local and the user is told where.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlrun_cli import console
from mlrun_cli import tags as tag_keys
from mlrun_cli.errors import TrackingError
from mlrun_cli.paths import tool_path
from mlrun_cli.store import mlflow_messages as mm
from mlrun_cli.store.base import Experiment, Metric, NewRun, Run
from mlrun_cli.store.mlflow_rest.client import (
    ARTIFACTS_API,
    RestClient,
    ServerError,
    ServerUnreachable,
)

if TYPE_CHECKING:
    from mlrun_cli.store.base import ServerStore, Store
    from mlrun_cli.store.mlflow_rest.registry import RestRegistry

PENDING = "pending.jsonl"  # a run's spooled writes, one JSON object a line


class MlflowRestStore:
    """The `Store` Protocol over an MLflow tracking server."""

    def __init__(self, uri: str) -> None:
        self.client = RestClient(uri)
        self.uri = self.client.uri  # without the user info: credentials go in a header
        self.shown = self.client.shown
        self._warned: set[str] = set()
        self._artifact_uris: dict[str, str] = {}

    def index(self) -> None:
        return None

    def server(self) -> MlflowRestStore:
        return self

    def registry(self) -> RestRegistry:
        from mlrun_cli.store.mlflow_rest.registry import RestRegistry

        return RestRegistry(self.client)

    def close(self) -> None:
        pass

    # -- experiments -------------------------------------------------------------------------

    def get_experiment(self, experiment_id: str) -> Experiment:
        try:
            data = self.client.request(
                "GET", "experiments/get", query={"experiment_id": experiment_id}
            )
        except ServerError as exc:
            if exc.status == 404:
                raise TrackingError(
                    f"no experiment with id {experiment_id!r} on {self.shown}"
                ) from None
            raise
        return mm.experiment_from_json(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self.client.request(
                "GET", "experiments/get-by-name", query={"experiment_name": name}
            )
        except ServerError as exc:
            if exc.status == 404:
                return None
            raise
        return mm.experiment_from_json(data["experiment"])

    def create_experiment(self, name: str) -> Experiment:
        data = self.client.request("POST", "experiments/create", {"name": name})
        return self.get_experiment(str(data["experiment_id"]))

    def list_experiments(self) -> list[Experiment]:
        data = self.client.request("POST", "experiments/search", {"max_results": 1000})
        return [mm.experiment_from_json(e) for e in data.get("experiments", [])]

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        exp = self.get_experiment(experiment_id)
        if self.get_experiment_by_name(name) is not None:
            raise TrackingError(f"an experiment named {name!r} exists already; pick another name")
        self.client.request(
            "POST", "experiments/update", {"experiment_id": exp.experiment_id, "new_name": name}
        )
        return self.get_experiment(exp.experiment_id)

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> Run:
        data = self.client.request(
            "POST",
            "runs/create",
            {
                "experiment_id": new.experiment_id,
                "user_id": new.user,
                "run_name": new.name,
                "start_time": new.start_time,
                "tags": [
                    {"key": k, "value": v}
                    for k, v in {**new.tags, tag_keys.COMMAND: new.command}.items()
                ],
            },
        )
        run_id = data["run"]["info"]["run_id"]
        self._artifact_uris[run_id] = data["run"]["info"].get("artifact_uri", "")
        if new.params:
            self.log_batch(run_id, params=dict(new.params))
        self.artifact_dir(run_id).mkdir(parents=True, exist_ok=True)
        return self.get_run(run_id)

    def log_batch(
        self,
        run_id: str,
        params: Mapping[str, str] | None = None,
        metrics: Sequence[Metric] = (),
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Send in batches within MLflow's limits; spool what cannot be sent during a run."""
        for body in batches(run_id, params or {}, metrics, tags or {}):
            self._send_or_spool("POST", "runs/log-batch", body, run_id)

    def set_terminated(
        self, run_id: str, status: str, end_time: int, exit_code: int | None
    ) -> None:
        if exit_code is not None:
            self._send_or_spool(
                "POST",
                "runs/set-tag",
                {"run_id": run_id, "key": tag_keys.EXIT_CODE, "value": str(exit_code)},
                run_id,
            )
        self._send_or_spool(
            "POST",
            "runs/update",
            {"run_id": run_id, "status": status, "end_time": end_time},
            run_id,
        )

    def set_status(self, run_id: str, status: str) -> None:
        self._send_or_spool("POST", "runs/update", {"run_id": run_id, "status": status}, run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.client.request("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        self.client.request(
            "POST", "runs/delete" if stage == "deleted" else "runs/restore", {"run_id": run_id}
        )

    def _send_or_spool(self, method: str, path: str, body: Any, run_id: str) -> None:
        try:
            self.client.request(method, path, body)
        except ServerUnreachable as exc:
            spool = self.run_dir(run_id) / PENDING
            spool.parent.mkdir(parents=True, exist_ok=True)
            with open(spool, "a") as fh:
                fh.write(json.dumps({"method": method, "path": path, "body": body}) + "\n")
            if run_id not in self._warned:
                self._warned.add(run_id)
                console.warn(
                    f"{exc}; what could not be sent is kept in {spool.parent} and "
                    "'mlrun runs sync' sends it later"
                )

    def resolve_run_id(self, ref: str) -> str:
        """A server has no prefix index: the id is checked by reading the run."""
        return self.get_run(ref).run_id

    def get_run(self, run_id: str) -> Run:
        try:
            data = self.client.request("GET", "runs/get", query={"run_id": run_id})
        except ServerError as exc:
            if exc.status in (400, 404):
                raise TrackingError(
                    f"no run {run_id!r} on {self.shown} (give the full run id)"
                ) from None
            raise
        return mm.run_from_json(data["run"])

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        statuses: Sequence[str] | None = None,
        limit: int = 100,
        include_deleted: bool = False,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        offset: int = 0,
    ) -> list[Run]:
        ids = list(experiment_ids or [e.experiment_id for e in self.list_experiments()])
        clauses = [filter_string] if filter_string else []
        if statuses:
            clauses.append("attributes.status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")")
        runs: list[Run] = []
        token = None
        while len(runs) < limit + offset:
            body: dict[str, Any] = {
                "experiment_ids": ids,
                "filter": " and ".join(clauses),
                "max_results": min(1000, limit + offset),
                "order_by": list(order_by) or ["attributes.start_time DESC"],
                "run_view_type": "ALL" if include_deleted else "ACTIVE_ONLY",
            }
            if token:
                body["page_token"] = token
            data = self.client.request("POST", "runs/search", body)
            runs += [mm.run_from_json(r) for r in data.get("runs", [])]
            token = data.get("next_page_token")
            if not token:
                break
        return runs[offset : offset + limit]

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self.client.request(
            "GET", "metrics/get-history", query={"run_id": run_id, "metric_key": key}
        )
        return [mm.metric_from_json(m) for m in data.get("metrics", [])]

    # -- files -------------------------------------------------------------------------------

    def _spool_root(self) -> Path:
        # One folder per server, named by a digest of its URI as shown (never a credential).
        host = hashlib.sha256(self.shown.encode()).hexdigest()[:12]
        return tool_path("cache") / "spool" / host

    def run_dir(self, run_id: str) -> Path:
        return self._spool_root() / run_id

    def artifact_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "artifacts"

    def upload_artifacts(
        self, run_id: str, keep: Sequence[str] = (), root: Path | None = None
    ) -> None:
        """Send the run's staged files through the artifact proxy (or say where they stay).

        Sent files are removed, except those named in `keep` (a log still being read)."""
        root = root or self.artifact_dir(run_id)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []
        if not files:
            return
        artifact_uri = self._artifact_uris.get(run_id) or self._fetch_artifact_uri(run_id)
        if not artifact_uri.startswith("mlflow-artifacts:"):
            console.warn(
                f"the server stores artifacts at {artifact_uri}, which mlrun cannot write; "
                f"the run's files stay in {root}"
            )
            return
        prefix = artifact_uri.split(":", 1)[1].lstrip("/")
        try:
            for path in files:
                rel = path.relative_to(root).as_posix()
                self.client.request(
                    "PUT", quote(f"{prefix}/{rel}"), raw=path.read_bytes(), api=ARTIFACTS_API + "/"
                )
        except ServerUnreachable:
            spool = self.run_dir(run_id) / PENDING
            with open(spool, "a") as fh:
                fh.write(json.dumps({"upload": True}) + "\n")
            console.warn(
                f"the run's files could not be uploaded; they stay in {root} and "
                "'mlrun runs sync' uploads them"
            )
            return
        for path in files:
            if path.name not in keep:
                path.unlink()

    def _fetch_artifact_uri(self, run_id: str) -> str:
        data = self.client.request("GET", "runs/get", query={"run_id": run_id})
        return str(data["run"]["info"].get("artifact_uri", ""))

    def list_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """Files of the run on the server's artifact proxy (recursively)."""
        try:
            prefix = self._fetch_artifact_uri(run_id).split(":", 1)[1].lstrip("/")
        except (TrackingError, IndexError):
            return []
        found: list[dict[str, Any]] = []
        stack = [""]
        while stack:
            sub = stack.pop()
            try:
                data = self.client.request(
                    "GET", "", query={"path": f"{prefix}/{sub}".rstrip("/")}, api=ARTIFACTS_API
                )
            except TrackingError:
                return found
            for f in data.get("files", []):
                rel = f"{sub}/{f['path']}".lstrip("/")
                if f.get("is_dir"):
                    stack.append(rel)
                else:
                    found.append({"path": rel, "size": int(f.get("file_size") or 0)})
        return sorted(found, key=lambda a: a["path"])

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """The content of the run's artifact `path` from the server's artifact proxy."""
        try:
            prefix = self._fetch_artifact_uri(run_id).split(":", 1)[1].lstrip("/")
        except IndexError:
            raise TrackingError(f"run {run_id[:8]} has no artifacts on the server") from None
        data: bytes = self.client.request(
            "GET", quote(f"/{prefix}/{path}"), api=ARTIFACTS_API, binary=True
        )
        return data

    def sync(self) -> list[str]:
        """Send every spooled write and upload of this server's runs; return the run ids done."""
        root = self._spool_root()
        done = []
        for run_dir in sorted(root.iterdir()) if root.is_dir() else []:
            pending = run_dir / PENDING
            if not pending.exists():
                continue
            lines = pending.read_text().splitlines()
            for i, line in enumerate(lines):
                entry = json.loads(line)
                if entry.get("upload"):
                    continue
                try:
                    self.client.request(entry["method"], entry["path"], entry["body"])
                except ServerUnreachable:
                    pending.write_text("\n".join(lines[i:]) + "\n")  # keep what is left
                    raise
            pending.unlink()
            self.upload_artifacts(run_dir.name)
            done.append(run_dir.name)
        return done


def batches(
    run_id: str, params: Mapping[str, str], metrics: Sequence[Metric], tags: Mapping[str, str]
) -> list[dict[str, Any]]:
    """log-batch bodies within MLflow's limits (1000 metrics, 100 params, 100 tags, 1000 total)."""
    p = [{"key": k, "value": str(v)} for k, v in params.items()]
    t = [{"key": k, "value": str(v)} for k, v in tags.items()]
    m = [
        mm.metric_to_json(
            x if x.timestamp else Metric(x.key, x.value, x.step, int(time.time() * 1000))
        )
        for x in metrics
    ]
    out = []
    while p or t or m:
        body: dict[str, Any] = {"run_id": run_id, "params": p[: mm.MAX_PARAMS_PER_BATCH]}
        p = p[mm.MAX_PARAMS_PER_BATCH :]
        body["tags"] = t[: mm.MAX_TAGS_PER_BATCH]
        t = t[mm.MAX_TAGS_PER_BATCH :]
        room = mm.MAX_ENTITIES_PER_BATCH - len(body["params"]) - len(body["tags"])
        take = min(room, mm.MAX_METRICS_PER_BATCH)
        body["metrics"] = m[:take]
        m = m[take:]
        out.append(body)
    return out


if TYPE_CHECKING:
    # mypy checks here that the server store keeps the whole contract of base.py.
    def _is_a_store(uri: str) -> tuple[Store, ServerStore]:
        return MlflowRestStore(uri), MlflowRestStore(uri)
