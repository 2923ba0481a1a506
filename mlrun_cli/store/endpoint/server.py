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
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from mlrun_cli.errors import MlrunError
from mlrun_cli.store.base import ParamConflict
from mlrun_cli.store.endpoint import models, runs
from mlrun_cli.store.endpoint.context import ServedRun
from mlrun_cli.store.mlflow_messages import RestError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.store.endpoint.context import Handler, Routes

# Every route the endpoint serves, by handler module (paths under the API prefixes below).
ROUTES: Routes = {**runs.ROUTES, **models.ROUTES}
API_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/")
MAX_BODY = 64 * 1024 * 1024


class Endpoint(ServedRun):
    """Serves one run. Bind with the constructor; `start()` serves; `stop()` ends it all.

    Each client connection has a thread reading its requests; they are answered one at a
    time under `lock`, as one SQLite connection serves them all.
    """

    def __init__(self, store_root: Path, run_id: str, experiment_id: str, user: str) -> None:
        super().__init__(store_root, run_id, experiment_id, user)
        self.lock = threading.Lock()
        self.token = os.urandom(24).hex()
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
                if length > MAX_BODY:
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
        for prefix in API_PREFIXES:
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


def _find(method: str, path: str) -> tuple[Handler | None, str | None]:
    handler = ROUTES.get((method, path))
    if handler is not None:
        return handler, None
    if path.startswith("logged-models/"):
        rest = path[len("logged-models/") :]
        model_id, _, tail = rest.partition("/")
        handler = ROUTES.get((method, "logged-models/{id}" + (f"/{tail}" if tail else "")))
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
