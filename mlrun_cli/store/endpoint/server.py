"""A loopback MLflow-REST endpoint, served for the duration of one run on the embedded store.

An unchanged script that calls `mlflow.log_metric` finds ``MLFLOW_TRACKING_URI`` pointing
here and logs into our run. It listens on 127.0.0.1 only, answers only requests carrying the
run's random bearer token, and accepts writes only for the run and the nested runs it
created. Artifacts need no endpoint: run and model artifact URIs are ``file://`` paths in
the store, which the client writes to directly.

The HTTP/1.1 server is a few dozen lines over `socket` and `threading`: `http.server` costs
~50 ms to import, which every run would pay.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mlrun_cli.errors import MlrunError
from mlrun_cli.store import mlflow_messages as mm
from mlrun_cli.store.base import TERMINAL, NewRun, ParamConflict
from mlrun_cli.store.mlflow_messages import RestError
from mlrun_cli.store.sqlite.store import SqliteStore

Handler = Callable[["Endpoint", str, dict[str, Any]], Any]
_ROUTES: dict[tuple[str, str], Handler] = {}
_MAX_BODY = 64 * 1024 * 1024


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ROUTES[(method, path)] = fn
        return fn

    return register


class Endpoint:
    """Serves one run. Bind with the constructor; `start()` serves; `stop()` ends it all."""

    def __init__(self, store_root: Path, run_id: str, experiment_id: str, user: str) -> None:
        self.store = SqliteStore(store_root)  # a connection of its own, used under self.lock
        self.lock = threading.Lock()
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.user = user
        self.token = os.urandom(24).hex()
        self.owned = {run_id}  # runs this endpoint may write: ours and the nested ones
        self.child_status: str | None = None  # a terminal status the child set on our run
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._closing = False

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def child_env(self) -> dict[str, str]:
        return {
            "MLFLOW_TRACKING_URI": self.uri,
            "MLFLOW_RUN_ID": self.run_id,
            "MLFLOW_EXPERIMENT_ID": self.experiment_id,
            "MLFLOW_TRACKING_TOKEN": self.token,
            "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        }

    # -- serving -----------------------------------------------------------------------------

    def start(self) -> None:
        t = threading.Thread(target=self._accept, name="mlrun-endpoint", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        """Close the listening socket and every connection; join every thread."""
        self._closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        with self.lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in list(self._threads):
            t.join(timeout=5)
        self.store.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self._conns.add(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._closing:
                request_line = reader.readline(65537)
                if not request_line:
                    return
                parts = request_line.decode("latin-1").split()
                if len(parts) != 3:
                    return
                method, target, _version = parts
                headers: dict[str, str] = {}
                while True:
                    line = reader.readline(65537)
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length > _MAX_BODY:
                    self._send(
                        conn, 413, {"error_code": "BAD_REQUEST", "message": "body too large"}
                    )
                    return
                body = reader.read(length) if length else b""
                status, payload = self.dispatch(method, target, headers, body)
                self._send(conn, status, payload)
                if headers.get("connection", "").lower() == "close":
                    return
        except OSError:
            return
        finally:
            with self.lock:
                self._conns.discard(conn)
            try:
                reader.close()
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _send(conn: socket.socket, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        conn.sendall(head + data)

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON payload)."""
        self.requests += 1
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {
                "error_code": "UNAUTHENTICATED",
                "message": "a valid bearer token is required",
            }
        parts = urlsplit(target)
        path = unquote(parts.path)
        for prefix in ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/"):
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        else:
            return _not_served(method, parts.path)
        args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if body:
            try:
                loaded = json.loads(body)
            except ValueError:
                return 400, {"error_code": "BAD_REQUEST", "message": "the body is not JSON"}
            if isinstance(loaded, dict):
                args.update(loaded)
        handler, path_arg = _find(method, path)
        if handler is None:
            return _not_served(method, parts.path)
        if path_arg is not None:
            args["model_id"] = path_arg
        try:
            with self.lock:
                return 200, handler(self, path, args) or {}
        except RestError as exc:
            return exc.status, exc.payload()
        except ParamConflict as exc:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Changing param values is not allowed. {exc}",
            }
        except MlrunError as exc:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": str(exc)}

    # -- helpers for handlers ----------------------------------------------------------------

    def run_arg(self, args: dict[str, Any]) -> str:
        run_id = args.get("run_id") or args.get("run_uuid")
        if not run_id:
            raise RestError("INVALID_PARAMETER_VALUE", "run_id is required")
        return str(run_id)

    def writable(self, args: dict[str, Any]) -> str:
        run_id = self.run_arg(args)
        if run_id not in self.owned:
            raise RestError(
                "PERMISSION_DENIED",
                f"this endpoint only accepts writes to run {self.run_id} and the runs it created",
            )
        return run_id

    def run_json(self, run_id: str) -> dict[str, Any]:
        run = self.store.get_run(run_id)
        return mm.run_to_json(
            run,
            mm.file_uri(self.store.artifact_dir(run.run_id)),
            inputs=self.store.run_inputs(run.run_id),
            outputs=self.store.run_outputs(run.run_id),
        )

    def experiment_json(self, experiment_id: str) -> dict[str, Any]:
        try:
            exp = self.store.get_experiment(experiment_id)
        except MlrunError:
            raise RestError(
                "RESOURCE_DOES_NOT_EXIST", f"no experiment with id {experiment_id!r}"
            ) from None
        return mm.experiment_to_json(exp, mm.file_uri(self.store.root / "runs"))


def _find(method: str, path: str) -> tuple[Handler | None, str | None]:
    handler = _ROUTES.get((method, path))
    if handler is not None:
        return handler, None
    if path.startswith("logged-models/"):
        rest = path[len("logged-models/") :]
        model_id, _, tail = rest.partition("/")
        handler = _ROUTES.get((method, "logged-models/{id}" + (f"/{tail}" if tail else "")))
        return handler, model_id
    return None, None


def _not_served(method: str, path: str) -> tuple[int, Any]:
    if "registered-models" in path or "model-versions" in path:
        return 501, {
            "error_code": "NOT_IMPLEMENTED",
            "message": (
                "registering a model needs an MLflow tracking server; mlrun's embedded store "
                "has no model registry. Run with --tracking-uri http://<your mlflow server> "
                "to use one."
            ),
        }
    return 404, {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": f"mlrun's loopback MLflow endpoint does not serve {method} {path}",
    }


# -- runs ------------------------------------------------------------------------------------


@route("GET", "runs/get")
def _runs_get(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    return {"run": ep.run_json(ep.run_arg(args))}


@route("POST", "runs/update")
def _runs_update(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    status = args.get("status")
    if args.get("run_name"):
        ep.store.log_batch(run_id, tags={"mlflow.runName": str(args["run_name"])})
    if run_id == ep.run_id:
        # Our run's final status is decided by the runner from the exit; the child's word is
        # kept only to honour an explicit KILLED or FAILED on a clean exit.
        if status in TERMINAL:
            ep.child_status = str(status)
    elif status in TERMINAL:
        ep.store.set_terminated(
            run_id, str(status), int(args.get("end_time") or time.time() * 1000), None
        )
    elif status:
        ep.store.set_status(run_id, str(status))
    run = ep.store.get_run(run_id)
    return {"run_info": mm.run_info_to_json(run, mm.file_uri(ep.store.artifact_dir(run_id)))}


@route("POST", "runs/create")
def _runs_create(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    experiment_id = str(args.get("experiment_id") or ep.experiment_id)
    ep.experiment_json(experiment_id)  # 404 for an unknown experiment
    tags = mm.key_values(args.get("tags"), "tag")
    run_id = os.urandom(16).hex()
    name = str(args.get("run_name") or tags.get("mlflow.runName") or f"nested-{run_id[:8]}")
    tags.setdefault("mlflow.runName", name)
    ep.store.create_run(
        NewRun(
            run_id=run_id,
            experiment_id=experiment_id,
            name=name,
            user=str(args.get("user_id") or ep.user),
            command="",
            params={},
            tags=tags,
            start_time=int(args.get("start_time") or time.time() * 1000),
            pid=os.getpid(),
            host=os.uname().nodename,
        )
    )
    ep.owned.add(run_id)
    return {"run": ep.run_json(run_id)}


@route("POST", "runs/log-parameter")
def _log_param(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_batch(run_id, params={str(args.get("key")): str(args.get("value"))})


@route("POST", "runs/log-metric")
def _log_metric(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_batch(run_id, metrics=[mm.metric_from_json(args)])


@route("POST", "runs/set-tag")
def _set_tag(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_batch(run_id, tags={str(args.get("key")): str(args.get("value"))})


@route("POST", "runs/delete-tag")
def _delete_tag(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    ep.store.delete_tag(ep.writable(args), str(args.get("key")))


@route("POST", "runs/log-batch")
def _log_batch(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    metrics = [mm.metric_from_json(m) for m in args.get("metrics") or []]
    params = mm.key_values(args.get("params"), "param")
    tags = mm.key_values(args.get("tags"), "tag")
    if (
        len(metrics) > mm.MAX_METRICS_PER_BATCH
        or len(params) > mm.MAX_PARAMS_PER_BATCH
        or len(tags) > mm.MAX_TAGS_PER_BATCH
    ):
        raise RestError(
            "INVALID_PARAMETER_VALUE",
            "a batch may hold at most 1000 metrics, 100 params and 100 tags",
        )
    ep.store.log_batch(run_id, params=params, metrics=metrics, tags=tags)


@route("POST", "runs/log-inputs")
def _log_inputs(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    datasets = []
    for item in args.get("datasets") or []:
        ds = dict(item.get("dataset") or {})
        ds["tags"] = item.get("tags") or []
        datasets.append(ds)
    ep.store.log_inputs(run_id, datasets)


@route("POST", "runs/outputs")
def _log_outputs(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.writable(args)
    ep.store.log_outputs(
        run_id, [(str(m["model_id"]), int(m.get("step") or 0)) for m in args.get("models") or []]
    )


@route("POST", "runs/search")
def _runs_search(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    try:
        offset = int(args.get("page_token") or 0)
    except ValueError:
        raise RestError("INVALID_PARAMETER_VALUE", "bad page_token") from None
    limit = int(args.get("max_results") or 1000)
    view = str(args.get("run_view_type") or "ACTIVE_ONLY")
    runs = ep.store.search_runs(
        [str(e) for e in args.get("experiment_ids") or []] or None,
        limit=limit + 1,
        include_deleted=view != "ACTIVE_ONLY",
        filter_string=args.get("filter") or None,
        order_by=list(args.get("order_by") or []),
        offset=offset,
    )
    if view == "DELETED_ONLY":
        runs = [r for r in runs if r.lifecycle_stage == "deleted"]
    out: dict[str, Any] = {
        "runs": [
            mm.run_to_json(r, mm.file_uri(ep.store.artifact_dir(r.run_id))) for r in runs[:limit]
        ]
    }
    if len(runs) > limit:
        out["next_page_token"] = str(offset + limit)
    return out


@route("GET", "metrics/get-history")
def _metric_history(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    run_id = ep.store.get_run(ep.run_arg(args)).run_id
    key = str(args.get("metric_key") or "")
    return {"metrics": [mm.metric_to_json(m) for m in ep.store.metric_history(run_id, key)]}


# -- experiments -----------------------------------------------------------------------------


@route("GET", "experiments/get")
def _experiment_get(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    return {"experiment": ep.experiment_json(str(args.get("experiment_id") or ""))}


@route("GET", "experiments/get-by-name")
def _experiment_by_name(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    name = str(args.get("experiment_name") or "")
    exp = ep.store.get_experiment_by_name(name)
    if exp is None:
        raise RestError("RESOURCE_DOES_NOT_EXIST", f"Could not find experiment with name '{name}'")
    return {"experiment": ep.experiment_json(exp.experiment_id)}


@route("POST", "experiments/create")
def _experiment_create(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    name = str(args.get("name") or "")
    if not name:
        raise RestError("INVALID_PARAMETER_VALUE", "an experiment needs a name")
    if ep.store.get_experiment_by_name(name) is not None:
        raise RestError("RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
    return {"experiment_id": ep.store.create_experiment(name).experiment_id}


def _experiments_search(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    exps = ep.store.list_experiments()
    return {"experiments": [ep.experiment_json(e.experiment_id) for e in exps]}


_ROUTES[("POST", "experiments/search")] = _experiments_search
_ROUTES[("GET", "experiments/search")] = _experiments_search


# -- logged models (MLflow 3) ------------------------------------------------------------------


@route("POST", "logged-models")
def _model_create(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    experiment_id = str(args.get("experiment_id") or ep.experiment_id)
    ep.experiment_json(experiment_id)
    source_run = args.get("source_run_id")
    if source_run and str(source_run) not in ep.owned:
        raise RestError("PERMISSION_DENIED", f"cannot log a model for run {source_run}")
    model = ep.store.create_logged_model(
        experiment_id,
        str(args.get("name") or "model"),
        str(source_run) if source_run else None,
        args.get("model_type"),
        mm.key_values(args.get("params"), "param"),
        mm.key_values(args.get("tags"), "tag"),
    )
    return {"model": mm.logged_model_to_json(model)}


def _model(ep: Endpoint, args: dict[str, Any]) -> dict[str, Any]:
    model = ep.store.get_logged_model(str(args.get("model_id") or ""))
    if model is None:
        raise RestError("RESOURCE_DOES_NOT_EXIST", f"Logged model {args.get('model_id')} not found")
    return model


@route("GET", "logged-models/{id}")
def _model_get(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    return {"model": mm.logged_model_to_json(_model(ep, args))}


@route("PATCH", "logged-models/{id}")
def _model_finalize(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    model = _model(ep, args)
    ep.store.update_logged_model(str(model["model_id"]), status=args.get("status"))
    return {"model": mm.logged_model_to_json(_model(ep, args))}


@route("PATCH", "logged-models/{id}/tags")
def _model_tags(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    model = _model(ep, args)
    ep.store.update_logged_model(
        str(model["model_id"]), tags=mm.key_values(args.get("tags"), "tag")
    )
    return {}


@route("POST", "logged-models/search")
def _model_search(ep: Endpoint, path: str, args: dict[str, Any]) -> Any:
    equals: dict[str, str] = {}
    text = str(args.get("filter") or "").strip()
    if text:
        import re

        for clause in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
            m = re.fullmatch(r"\s*`?(\w+)`?\s*=\s*(['\"])(.*)\2\s*", clause)
            if m is None:
                raise RestError(
                    "INVALID_PARAMETER_VALUE", f"unsupported logged-model filter {text!r}"
                )
            equals[m.group(1)] = m.group(3)
    try:
        models = ep.store.search_logged_models(
            [str(e) for e in args.get("experiment_ids") or []], equals
        )
    except MlrunError as exc:
        raise RestError("INVALID_PARAMETER_VALUE", str(exc)) from None
    return {"models": [mm.logged_model_to_json(m) for m in models]}
