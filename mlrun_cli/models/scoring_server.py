"""MLflow's scoring protocol over a small standard-library HTTP server.

This file is a script: the model's own interpreter runs it (``python scoring_server.py``),
in the model's environment, where mlrun itself is not installed. It loads the model with
``mlflow.pyfunc`` and answers each request with MLflow's own ``invocations`` function, so
the replies are exactly those of ``mlflow models serve`` (the input forms, ``params``, the
400 and 415 answers) without uvicorn, FastAPI or MLflow's CLI to start.

    serve:   scoring_server.py serve MODEL_DIR --fd N [--workers N]
    predict: scoring_server.py predict MODEL_DIR --input FILE --content-type TYPE [--output FILE]

`serve` answers on the listening socket it inherits as descriptor N (bound by mlrun, so a
port in use is said before anything loads). SIGTERM and SIGINT end it cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = "application/json"


def load(model_dir: str) -> tuple[Any, Any, Any, str]:
    """The model, MLflow's scoring module, its exception type and MLflow's version."""
    os.environ.setdefault("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import load_model, scoring_server
    from mlflow.version import VERSION

    return load_model(model_dir), scoring_server, MlflowException, VERSION


def make_handler(model: Any, scoring: Any, error: Any, version: str) -> type:
    schema = model.metadata.get_input_schema()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
        disable_nagle_algorithm = True
        server_version = "mlrun-scoring"

        def reply(self, status: int, body: str | bytes, mimetype: str = JSON) -> None:
            # The head and the body in one write: two small writes on a keep-alive
            # connection meet Nagle's algorithm and the client's delayed ACK (40 ms each).
            data = body.encode() if isinstance(body, str) else body
            reason = self.responses.get(status, ("",))[0]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {mimetype}\r\n"
                f"Content-Length: {len(data)}\r\n"
                + ("Connection: close\r\n" if self.close_connection else "")
                + "\r\n"
            )
            self.wfile.write(head.encode("latin-1") + data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/ping", "/health"):
                self.reply(200, "\n")
            elif path == "/version":
                self.reply(200, version)
            else:
                self.reply(404, json.dumps({"detail": "Not Found"}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else b""
            if self.path.split("?", 1)[0] != "/invocations":
                self.reply(404, json.dumps({"detail": "Not Found"}))
                return
            content_type = self.headers.get("Content-Type") or ""
            try:
                result = scoring.invocations(data, content_type, model, schema)
                self.reply(result.status, result.response, result.mimetype)
            except error as exc:
                self.reply(exc.get_http_status_code(), exc.serialize_as_json())
            except Exception as exc:
                body = {
                    "error_code": "INTERNAL_ERROR",
                    "message": f"{type(exc).__name__}: {exc}",
                    "stack_trace": traceback.format_exc(),
                }
                self.reply(500, json.dumps(body))

        def log_message(self, format: str, *args: Any) -> None:
            pass  # no access log: a line per request would cost more than the request

    return Handler


def serve(model_dir: str, fd: int, workers: int) -> int:
    model, scoring, error, version = load(model_dir)
    sock = socket.socket(fileno=fd)
    server = ThreadingHTTPServer(
        sock.getsockname()[:2],
        make_handler(model, scoring, error, version),
        bind_and_activate=False,
    )
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    children: list[int] = []
    for _ in range(max(1, workers) - 1):
        # Workers share the listening socket; the model is loaded once, before the fork.
        pid = os.fork()
        if pid == 0:
            children = []
            break
        children.append(pid)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if children or workers <= 1:
        host, port = sock.getsockname()[:2]
        sys.stderr.write(f"ready: http://{host}:{port} (pid {os.getpid()})\n")
        sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass
    return 0


def predict(model_dir: str, source: str, content_type: str, output: str | None) -> int:
    model, scoring, error, _ = load(model_dir)
    with open(source, "rb") as fh:
        data = fh.read()
    try:
        result = scoring.invocations(data, content_type, model, model.metadata.get_input_schema())
    except error as exc:
        sys.stderr.write(f"error: {exc.message.splitlines()[0] if exc.message else exc}\n")
        return 2
    if result.status != 200:
        sys.stderr.write(f"error: {str(result.response).splitlines()[0]}\n")
        return 2
    if output:
        with open(output, "w") as fh:
            fh.write(result.response)
    else:
        sys.stdout.write(result.response + "\n")
    return 0


def main(argv: list[str]) -> int:
    mode, model_dir, rest = argv[0], argv[1], argv[2:]
    opts = {rest[i]: rest[i + 1] for i in range(0, len(rest) - 1, 2)}
    if mode == "serve":
        return serve(model_dir, int(opts["--fd"]), int(opts.get("--workers", "1")))
    return predict(model_dir, opts["--input"], opts["--content-type"], opts.get("--output"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
