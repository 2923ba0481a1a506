"""A loopback MLflow-REST endpoint, served for the duration of one run on the embedded store.

An unchanged script that calls `mlflow.log_metric` finds ``MLFLOW_TRACKING_URI`` pointing
here and logs into our run. It listens on 127.0.0.1 only, answers only requests carrying the
run's random bearer token, and accepts writes only for the run and the nested runs (and
logged models) it created. Artifacts need no endpoint: run and model artifact URIs are
``file://`` paths in the store, which the client writes to directly.

Any process on the machine can connect, so a connection is a stranger's until it shows the
token: one thread (`gate`) reads every new connection's first request head without
blocking, closes those that send no complete head in time, and has the token checked before
a byte of the body is read. A connection whose request carries the token gets a thread of
its own for that request and the ones after it (keep-alive). The HTTP/1.1 framing is in
`wire`, over `socket`, `select` and `threading`: `http.server` costs ~50 ms to import, which
every run would pay.
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
from mlrun_cli.store.base import ParamConflict, RegistryError
from mlrun_cli.store.endpoint import models, registry, runs, wire
from mlrun_cli.store.endpoint.context import ServedRun
from mlrun_cli.store.endpoint.gate import Gate
from mlrun_cli.store.endpoint.wire import Head, HttpError, Reader
from mlrun_cli.store.mlflow_messages import RestError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from typing import Any

    from mlrun_cli.store.endpoint.context import Handler, Routes

# Every route the endpoint serves, by handler module (paths under the API prefixes below).
ROUTES: Routes = {**runs.ROUTES, **models.ROUTES, **registry.ROUTES}
API_PREFIXES = ("/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/")
MAX_BODY = wire.MAX_BODY

# The limits on strangers' connections are in `gate`, on what a request may be in `wire`.
# Connections that showed the token, each with a thread. MLflow's client keeps a pool of 10
# connections per host and its async logging uses 10 threads; beyond this a new connection
# is answered 503 with Retry-After, which the client retries.
MAX_SERVED = 32
# A token holder's connection idle between requests is closed after this (the client's pool
# notices a closed connection before reusing it and opens another).
KEEPALIVE_TIMEOUT = 120.0
# The longest a token holder's request body may stall between two reads.
BODY_TIMEOUT = 30.0


class Endpoint(ServedRun):
    """Serves one run. Bind with the constructor; `start()` serves; `stop()` ends it all.

    Requests are answered one at a time under `lock`, as one SQLite connection serves them.
    """

    def __init__(self, store_root: Path, run_id: str, experiment_id: str, user: str) -> None:
        super().__init__(store_root, run_id, experiment_id, user)
        self.lock = threading.Lock()
        self.token = os.urandom(24).hex()
        self._bearer = f"Bearer {self.token}".encode()
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self._gate = Gate(self.sock, self._admit)
        self._watcher: threading.Thread | None = None
        self._guard = threading.Lock()  # guards _served
        self._served: dict[socket.socket, threading.Thread] = {}
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
        self._watcher = threading.Thread(target=self._gate.run, name="mlrun-endpoint", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Close the listening socket and every connection; join every thread."""
        self._closing = True
        self._gate.stop()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._gate.close()
        self.sock.close()
        with self._guard:
            served = dict(self._served)
        for conn in served:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in served.values():
            t.join(timeout=5)
        self.store.close()

    def authorised(self, headers: dict[str, str]) -> bool:
        """Whether the request carries our bearer token (compared in constant time)."""
        given = headers.get("authorization", "").encode("latin-1")
        if len(given) != len(self._bearer):
            return False
        # hmac.compare_digest would import _hashlib, which a warm run must not load.
        diff = 0
        for a, b in zip(given, self._bearer, strict=True):
            diff |= a ^ b
        return diff == 0

    def screen(self, head: Head) -> int:
        """The body length of a request we will read: the token first, then the framing."""
        if not self.authorised(head.headers):
            raise HttpError(401, "a valid bearer token is required", "UNAUTHENTICATED")
        return wire.body_length(head)

    def _admit(self, conn: socket.socket, head: Head, received: bytes) -> None:
        """Take a connection whose first head the gate read: a thread serves it from here."""
        self.screen(head)
        with self._guard:
            if len(self._served) >= MAX_SERVED:
                raise HttpError(503, "too many connections", "TEMPORARILY_UNAVAILABLE")
            conn.setblocking(True)
            t = threading.Thread(
                target=self._serve, args=(conn, head, received), name="mlrun-endpoint-conn"
            )
            t.daemon = True
            self._served[conn] = t
        t.start()

    def _serve(self, conn: socket.socket, head: Head, received: bytes) -> None:
        """Answer a token holder's requests on one connection until it closes or idles out."""
        reader = Reader(conn, received)
        try:
            while True:
                conn.settimeout(BODY_TIMEOUT)
                if self._answer(conn, reader, head) or self._closing:
                    return
                conn.settimeout(KEEPALIVE_TIMEOUT)
                raw = reader.read_head()
                if raw is None:
                    return
                head = wire.parse_head(raw)
        except HttpError as exc:
            wire.linger(conn, wire.response(exc.status, exc.payload(), True))
        except OSError:
            pass  # a timeout, a reset, or stop() shutting the connection down
        except Exception:  # a fault of ours: an answer, never a traceback on the terminal
            payload = {"error_code": "INTERNAL_ERROR", "message": "the endpoint failed"}
            wire.linger(conn, wire.response(500, payload, True))
        finally:
            with self._guard:
                self._served.pop(conn, None)
            with contextlib.suppress(OSError):
                conn.close()

    def _answer(self, conn: socket.socket, reader: Reader, head: Head) -> bool:
        """Read one request's body, answer it; whether the connection is to be closed."""
        length = self.screen(head)
        if length and head.headers.get("expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = reader.read_body(length)
        status, payload = self.dispatch(head.method, head.target, head.headers, body)
        if status >= 500:
            # After a fault of ours nothing about the connection is trusted any more.
            wire.linger(conn, wire.response(status, payload, True))
            return True
        conn.sendall(wire.response(status, payload, head.close))
        return head.close

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON payload). Never raises."""
        self.requests += 1
        if not self.authorised(headers):
            return 401, {
                "error_code": "UNAUTHENTICATED",
                "message": "a valid bearer token is required",
            }
        try:
            parts = urlsplit(target)
            path = unquote(parts.path)
            args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        except ValueError:
            return 400, {"error_code": "BAD_REQUEST", "message": "malformed request target"}
        for prefix in API_PREFIXES:
            if path.startswith(prefix):
                path = path[len(prefix) :]
                break
        else:
            return _not_served(method, parts.path)
        if body:
            try:
                loaded = json.loads(body)
            except (ValueError, RecursionError):
                return 400, {"error_code": "BAD_REQUEST", "message": "the body is not JSON"}
            if isinstance(loaded, dict):
                args.update(loaded)
        handler, path_arg = _find(method, path)
        if handler is None:
            return _not_served(method, parts.path)
        if path_arg is not None:
            args["model_id"] = path_arg
        return self._call(handler, path, args)

    def _call(self, handler: Handler, path: str, args: dict[str, Any]) -> tuple[int, Any]:
        try:
            with self.lock:
                return 200, handler(self, path, args) or {}
        except RestError as exc:
            return exc.status, exc.payload()
        except RegistryError as exc:
            return RestError(exc.code, str(exc)).status, {
                "error_code": exc.code,
                "message": str(exc),
            }
        except ParamConflict as exc:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"Changing param values is not allowed. {exc}",
            }
        except MlrunError as exc:
            return 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": str(exc)}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A request of the wrong shape (a missing key, a string for a number): the
            # client's to fix. As a 500 the client would retry it for minutes.
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": f"malformed request: {type(exc).__name__}: {exc}",
            }
        except Exception as exc:
            return 500, {
                "error_code": "INTERNAL_ERROR",
                "message": f"the endpoint failed: {type(exc).__name__}: {exc}",
            }


def _find(method: str, path: str) -> tuple[Handler | None, str | None]:
    # A path holding "{" is never a route as such: "logged-models/{id}" is only a pattern.
    handler = ROUTES.get((method, path)) if "{" not in path else None
    if handler is not None:
        return handler, None
    if path.startswith("logged-models/"):
        rest = path[len("logged-models/") :]
        model_id, _, tail = rest.partition("/")
        handler = ROUTES.get((method, "logged-models/{id}" + (f"/{tail}" if tail else "")))
        return handler, model_id
    return None, None


def _not_served(method: str, path: str) -> tuple[int, Any]:
    return 404, {
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": f"mlrun's loopback MLflow endpoint does not serve {method} {path}",
    }
