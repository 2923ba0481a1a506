"""A store on an MLflow tracking server, spoken to over its REST API (no mlflow package).

Auth comes from ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` (basic) and never appears in a message. Requests are retried with
exponential backoff on connection errors, 429 and 5xx (``MLRUN_HTTP_RETRIES``, default 3;
``MLRUN_HTTP_BACKOFF`` seconds, default 0.5). While a run executes, a write that still fails
is kept in the run's local spool folder and sent later by `mlrun runs sync`.

Files are staged in the spool folder while the run executes and uploaded through the
server's artifact proxy (``/api/2.0/mlflow-artifacts/``) when the run's artifact URI is
``mlflow-artifacts:``; otherwise they stay local and the user is told where.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from mlrun_cli import console
from mlrun_cli.errors import TrackingError
from mlrun_cli.paths import tool_path
from mlrun_cli.sources.resolve import strip_credentials
from mlrun_cli.store import mlflow_messages as mm
from mlrun_cli.store.base import Experiment, Metric, NewRun, Run

PENDING = "pending.jsonl"


class ServerUnreachable(TrackingError):
    """The server could not be reached after the retries."""


class MlflowRestStore:
    """The `Store` Protocol over an MLflow tracking server."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.shown = strip_credentials(self.uri)
        parts = urlsplit(self.uri)
        self._headers = {"Content-Type": "application/json"}
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if parts.username:
            user, password = parts.username, parts.password or ""
            host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
            self.uri = self.uri.replace(parts.netloc, host, 1)
        if user is not None and password is not None:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"
        elif token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.retries = int(os.environ.get("MLRUN_HTTP_RETRIES", "3"))
        self.backoff = float(os.environ.get("MLRUN_HTTP_BACKOFF", "0.5"))
        self.timeout = float(os.environ.get("MLRUN_HTTP_TIMEOUT", "30"))
        self._warned: set[str] = set()
        self._artifact_uris: dict[str, str] = {}

    # -- transport ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        raw: bytes | None = None,
        api: str = "/api/2.0/mlflow/",
    ) -> Any:
        """One REST call with retries; returns the decoded JSON (or {} for an empty body)."""
        import urllib.error
        import urllib.request

        url = self.uri + api + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = dict(self._headers)
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        delay = self.backoff
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    payload = resp.read()
                return json.loads(payload) if payload.strip() else {}
            except urllib.error.HTTPError as exc:
                text = exc.read().decode("utf-8", "replace")
                if (exc.code == 429 or exc.code >= 500) and attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise self._http_error(method, path, exc.code, text) from None
            except (OSError, ValueError) as exc:  # URLError, refused, reset, timeout, bad JSON
                if attempt < self.retries:
                    time.sleep(delay)
                    delay *= 2
                    continue
                reason = getattr(exc, "reason", exc)
                raise ServerUnreachable(
                    f"MLflow server {self.shown} is unreachable ({reason}); check the URI and "
                    "that the server runs"
                ) from None
        raise AssertionError("unreachable")

    def _http_error(self, method: str, path: str, status: int, text: str) -> TrackingError:
        try:
            err = json.loads(text)
            code, message = err.get("error_code", ""), err.get("message", text)
        except ValueError:
            code, message = "", text.strip()[:200]
        if status in (401, 403):
            return TrackingError(
                f"MLflow server {self.shown} refused the credentials ({status}) for {method} "
                f"{path}; check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
            )
        if code == "INVALID_PARAMETER_VALUE" and "param" in message.lower():
            from mlrun_cli.store.base import ParamConflict

            return ParamConflict(strip_credentials(message))
        exc = TrackingError(
            f"MLflow server {self.shown}: {method} {path} failed ({status} {code}): {strip_credentials(message)}"
        )
        exc.status = status  # type: ignore[attr-defined]
        exc.code = code  # type: ignore[attr-defined]
        return exc

    # -- experiments -------------------------------------------------------------------------

    def get_experiment(self, experiment_id: str) -> Experiment:
        try:
            data = self.request("GET", "experiments/get", query={"experiment_id": experiment_id})
        except TrackingError as exc:
            if getattr(exc, "status", None) == 404:
                raise TrackingError(
                    f"no experiment with id {experiment_id!r} on {self.shown}"
                ) from None
            raise
        return _experiment(data["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            data = self.request("GET", "experiments/get-by-name", query={"experiment_name": name})
        except TrackingError as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        return _experiment(data["experiment"])

    def create_experiment(self, name: str) -> Experiment:
        data = self.request("POST", "experiments/create", {"name": name})
        return self.get_experiment(str(data["experiment_id"]))

    def list_experiments(self) -> list[Experiment]:
        data = self.request("POST", "experiments/search", {"max_results": 1000})
        return [_experiment(e) for e in data.get("experiments", [])]

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, new: NewRun) -> Run:
        data = self.request(
            "POST",
            "runs/create",
            {
                "experiment_id": new.experiment_id,
                "user_id": new.user,
                "run_name": new.name,
                "start_time": new.start_time,
                "tags": [
                    {"key": k, "value": v}
                    for k, v in {**new.tags, "mlrun.command": new.command}.items()
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
            self._write("POST", "runs/log-batch", body, run_id)

    def set_terminated(
        self, run_id: str, status: str, end_time: int, exit_code: int | None
    ) -> None:
        if exit_code is not None:
            self._write(
                "POST",
                "runs/set-tag",
                {"run_id": run_id, "key": "mlrun.exit_code", "value": str(exit_code)},
                run_id,
            )
        self._write(
            "POST",
            "runs/update",
            {"run_id": run_id, "status": status, "end_time": end_time},
            run_id,
        )

    def set_status(self, run_id: str, status: str) -> None:
        self._write("POST", "runs/update", {"run_id": run_id, "status": status}, run_id)

    def delete_tag(self, run_id: str, key: str) -> None:
        self.request("POST", "runs/delete-tag", {"run_id": run_id, "key": key})

    def index(self) -> None:
        return None

    def server(self) -> MlflowRestStore:
        return self

    def resolve_run_id(self, ref: str) -> str:
        """A server has no prefix index: the id is checked by reading the run."""
        return self.get_run(ref).run_id

    def rename_experiment(self, experiment_id: str, name: str) -> Experiment:
        exp = self.get_experiment(experiment_id)
        if self.get_experiment_by_name(name) is not None:
            raise TrackingError(f"an experiment named {name!r} exists already; pick another name")
        self.request(
            "POST", "experiments/update", {"experiment_id": exp.experiment_id, "new_name": name}
        )
        return self.get_experiment(exp.experiment_id)

    def set_lifecycle(self, run_id: str, stage: str) -> None:
        self.request(
            "POST", "runs/delete" if stage == "deleted" else "runs/restore", {"run_id": run_id}
        )

    def _write(self, method: str, path: str, body: Any, run_id: str) -> None:
        try:
            self.request(method, path, body)
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

    def get_run(self, run_id: str) -> Run:
        try:
            data = self.request("GET", "runs/get", query={"run_id": run_id})
        except TrackingError as exc:
            if getattr(exc, "status", None) in (400, 404):
                raise TrackingError(
                    f"no run {run_id!r} on {self.shown} (give the full run id)"
                ) from None
            raise
        return _run(data["run"])

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
            data = self.request("POST", "runs/search", body)
            runs += [_run(r) for r in data.get("runs", [])]
            token = data.get("next_page_token")
            if not token:
                break
        return runs[offset : offset + limit]

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self.request(
            "GET", "metrics/get-history", query={"run_id": run_id, "metric_key": key}
        )
        return [mm.metric_from_json(m) for m in data.get("metrics", [])]

    # -- files -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        host = hashlib.sha256(self.shown.encode()).hexdigest()[:12]
        return tool_path("cache") / "spool" / host / run_id

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
                self.request(
                    "PUT",
                    quote(f"{prefix}/{rel}"),
                    raw=path.read_bytes(),
                    api="/api/2.0/mlflow-artifacts/artifacts/",
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
        data = self.request("GET", "runs/get", query={"run_id": run_id})
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
                data = self.request(
                    "GET",
                    "",
                    query={"path": f"{prefix}/{sub}".rstrip("/")},
                    api="/api/2.0/mlflow-artifacts/artifacts",
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

    def sync(self) -> list[str]:
        """Send every spooled write and upload of this server's runs; return the run ids done."""
        host = hashlib.sha256(self.shown.encode()).hexdigest()[:12]
        root = tool_path("cache") / "spool" / host
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
                    self.request(entry["method"], entry["path"], entry["body"])
                except ServerUnreachable:
                    pending.write_text("\n".join(lines[i:]) + "\n")  # keep what is left
                    raise
            pending.unlink()
            self.upload_artifacts(run_dir.name)
            done.append(run_dir.name)
        return done

    def close(self) -> None:
        pass


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


def _experiment(d: Mapping[str, Any]) -> Experiment:
    return Experiment(
        str(d["experiment_id"]),
        str(d.get("name", "")),
        str(d.get("lifecycle_stage", "active")),
        d.get("creation_time"),
    )


def _run(d: Mapping[str, Any]) -> Run:
    info = d.get("info", {})
    data = d.get("data", {})
    tags = mm.key_values(data.get("tags"), "tag")
    exit_code = tags.get("mlrun.exit_code")
    return Run(
        run_id=str(info.get("run_id") or info.get("run_uuid")),
        experiment_id=str(info.get("experiment_id", "")),
        name=str(info.get("run_name") or tags.get("mlflow.runName") or ""),
        status=str(info.get("status", "")),
        start_time=info.get("start_time"),
        end_time=info.get("end_time"),
        exit_code=int(exit_code) if exit_code and exit_code.lstrip("-").isdigit() else None,
        user=info.get("user_id"),
        command=tags.get("mlrun.command"),
        lifecycle_stage=str(info.get("lifecycle_stage", "active")),
        artifact_uri=info.get("artifact_uri"),
        params=mm.key_values(data.get("params"), "param"),
        tags=tags,
        metrics={m["key"]: mm.metric_from_json(m) for m in data.get("metrics", [])},
    )
