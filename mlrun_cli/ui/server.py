"""The view's HTTP server: the standard library's threading server, our routes.

    /  /runs/<id>  /compare?runs=a,b  /sweeps/<id>  /models    the page (one HTML shell)
    /static/<file>                                              its CSS and JS
    /api/<route>                                                JSON (see `api`)
    /files/<run>/<path>                                         an artifact, as a download
    /view/<run>/<path>                                          an artifact, shown sandboxed

Each worker thread borrows an `Api` (with its own read connection) from a pool, so slow
queries of one chart do not hold up another's.
"""

from __future__ import annotations

import gzip
import json
import queue
import shutil
import socket
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from mlrun_cli.errors import MlrunError
from mlrun_cli.store.base import RunIndex
from mlrun_cli.ui import previews
from mlrun_cli.ui.api import Api, ApiError, dumps
from mlrun_cli.ui.safety import COOKIE, Gate, parse_cookies

STATIC = Path(__file__).parent / "static"
PAGES = ("", "runs", "compare", "sweeps", "models")
MAX_POST = 64 * 1024
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; frame-src 'self'; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def static_files() -> dict[str, bytes]:
    """The page's files, read once."""
    return {p.name: p.read_bytes() for p in sorted(STATIC.iterdir()) if p.is_file()}


def shell(files: dict[str, bytes], token: str) -> bytes:
    """The HTML every page URL answers: the token in a meta tag for the page's own writes."""
    return files["index.html"].replace(b"__MLRUN_TOKEN__", token.encode())


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], opener: Callable[[], RunIndex], gate: Gate
    ) -> None:
        super().__init__(address, Handler)
        self.opener = opener
        self.gate = gate
        self.pool: queue.LifoQueue[Api] = queue.LifoQueue()
        self.files = static_files()
        self.zipped: dict[str, bytes] = {}

    def borrow(self) -> Api:
        while True:
            try:
                api = self.pool.get_nowait()
            except queue.Empty:
                return Api(self.opener())
            if not api.stale():
                return api
            api.index.close()  # the store was created meanwhile: read it afresh

    def give_back(self, api: Api) -> None:
        self.pool.put(api)


CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


class Handler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"
    server_version = "mlrun-ui"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the terminal shows the URL, not a line per request

    def do_GET(self) -> None:
        self.handle_request("GET")

    def do_POST(self) -> None:
        self.handle_request("POST")

    def handle_request(self, method: str) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        cookies = parse_cookies(self.headers.get("Cookie"))
        headers = dict(self.headers.items())
        refused = self.server.gate.check(method, headers, query.get("token"), cookies)
        if refused is not None:
            self.send_json({"error": refused[1]}, refused[0])
            return
        try:
            self.route(method, url.path, query)
        except ApiError as exc:
            self.send_json({"error": str(exc)}, exc.status)
        except MlrunError as exc:
            self.send_json({"error": str(exc).splitlines()[0]}, 400)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self, method: str, path: str, query: dict[str, str]) -> None:
        parts = path.split("/")
        head = parts[1] if len(parts) > 1 else ""
        if method == "POST":
            if head != "api":
                raise ApiError("only /api/ takes writes", 405)
            self.send_json(self.call(lambda api: api.post(path[5:], self.read_json())))
        elif head == "api":
            self.send_json(self.call(lambda api: api.get(path[5:], query)))
        elif head == "static" and len(parts) == 3 and parts[2] in self.server.files:
            self.send_static(parts[2])
        elif head in ("files", "view") and len(parts) >= 4:
            self.send_artifact(parts[2], unquote("/".join(parts[3:])), head == "view")
        elif head in PAGES:
            if "token" in query:
                self.set_token_cookie(path)
            else:
                body = shell(self.server.files, self.server.gate.token)
                self.send_bytes(
                    body, "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_CSP}
                )
        else:
            raise ApiError(f"no page {path}", 404)

    def call(self, fn: Callable[[Api], object]) -> object:
        api = self.server.borrow()
        try:
            return fn(api)
        finally:
            self.server.give_back(api)

    def read_json(self) -> dict[str, object]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_POST:
            raise ApiError("request body too large", 413)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError("the request body must be JSON") from None
        if not isinstance(body, dict):
            raise ApiError("the request body must be a JSON object")
        return body

    def set_token_cookie(self, path: str) -> None:
        """``?token=`` (checked by the gate) becomes a cookie; the URL loses the token."""
        self.send_response(303)
        self.send_header(
            "Set-Cookie", f"{COOKIE}={self.server.gate.token}; Path=/; HttpOnly; SameSite=Strict"
        )
        self.send_header("Location", path or "/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_static(self, name: str) -> None:
        body = self.server.files[name]
        # Revalidated on each page load; unchanged files cost a 304 and no body.
        tag = f'"{zlib.crc32(body):08x}-{len(body)}"'
        if self.headers.get("If-None-Match") == tag:
            self.send_response(304)
            self.send_header("ETag", tag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        extra: dict[str, str] = {"Cache-Control": "no-cache", "ETag": tag}
        if "gzip" in (self.headers.get("Accept-Encoding") or ""):
            if name not in self.server.zipped:
                self.server.zipped[name] = gzip.compress(body, 9)
            body = self.server.zipped[name]
            extra["Content-Encoding"] = "gzip"
        kind = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
        self.send_bytes(body, kind + "; charset=utf-8", extra)

    def send_artifact(self, run_ref: str, rel: str, inline: bool) -> None:
        api = self.server.borrow()
        try:
            run_id = api.index.resolve_run_id(run_ref)
            full = previews.artifact_file(api.index.artifact_dir(run_id), rel)
        finally:
            self.server.give_back(api)
        size = full.stat().st_size
        self.send_response(200)
        if inline:
            self.send_header("Content-Type", previews.content_type(full))
            # Shown in a frame of ours: no scripts, no forms, no same origin.
            self.send_header("Content-Security-Policy", "sandbox")
        else:
            self.send_header("Content-Type", "application/octet-stream")
            name = full.name.replace('"', "")
            self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with full.open("rb") as f:
            shutil.copyfileobj(f, self.wfile, 256 * 1024)

    def send_json(self, value: object, status: int = 200) -> None:
        self.send_bytes(dumps(value), "application/json", {"Cache-Control": "no-store"}, status)

    def send_bytes(
        self, body: bytes, kind: str, extra: dict[str, str] | None = None, status: int = 200
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def make_server(opener: Callable[[], RunIndex], host: str, port: int, token: str) -> ViewServer:
    """A server bound to (host, port), not yet serving; port 0 picks a free one."""
    cls = ViewServer6 if ":" in host else ViewServer
    return cls((host.strip("[]"), port), opener, Gate(host, token))


class ViewServer6(ViewServer):
    address_family = socket.AF_INET6
