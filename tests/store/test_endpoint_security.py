"""The loopback endpoint against hostile clients: real sockets on 127.0.0.1.

Another process on the machine can connect to the endpoint; with a run's token it must not
change another run's records, and without it (or with broken HTTP) it must neither hold the
server's threads nor put a traceback on the user's terminal.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlrun_cli.store.base import NewRun
from mlrun_cli.store.endpoint import server
from mlrun_cli.store.endpoint.server import Endpoint
from mlrun_cli.store.sqlite.store import SqliteStore

RUN_A, RUN_B = "a" * 32, "b" * 32
API = "/api/2.0/mlflow/"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    store = SqliteStore(tmp_path / "s")
    store.create_run(NewRun(RUN_A, "0", "ra", "u", "c", {"p": "1"}, {}, start_time=1))
    store.create_run(NewRun(RUN_B, "0", "rb", "u", "c", {}, {}, start_time=1))
    store.close()
    return tmp_path / "s"


@pytest.fixture
def ep_a(root: Path) -> Iterator[Endpoint]:
    ep = Endpoint(root, RUN_A, "0", "u")
    ep.start()
    yield ep
    ep.stop()


@pytest.fixture
def ep_b(root: Path) -> Iterator[Endpoint]:
    ep = Endpoint(root, RUN_B, "0", "u")
    ep.start()
    yield ep
    ep.stop()


def call(ep: Endpoint, method: str, path: str, body: object = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10)
    headers = {"Authorization": f"Bearer {ep.token}", "Content-Type": "application/json"}
    conn.request(method, API + path, json.dumps(body) if body is not None else None, headers)
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    return resp.status, data


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One response from a raw socket: status, headers, JSON body. Reads no further, so a
    second response on the connection stays for the next call."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"connection closed before a response: {head!r}"
        head += byte
    lines = head.decode("latin-1").split("\r\n")[:-2]
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    body = b""
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(int(headers["content-length"]) - len(body))
        assert chunk
        body += chunk
    return status, headers, json.loads(body)


def raw(ep: Endpoint, data: bytes, timeout: float = 5) -> tuple[int, dict[str, str], Any]:
    with socket.create_connection(("127.0.0.1", ep.port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_response(sock)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (what it sends first is read)."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def request(ep: Endpoint, method: str, path: str, headers: str = "", body: bytes = b"") -> bytes:
    auth = f"Authorization: Bearer {ep.token}\r\n"
    return f"{method} {API}{path} HTTP/1.1\r\nHost: x\r\n{auth}{headers}\r\n".encode() + body


def assert_still_serving(ep: Endpoint) -> None:
    status, data = call(ep, "GET", f"runs/get?run_id={ep.run_id}")
    assert status == 200 and data["run"]["info"]["run_id"] == ep.run_id


# -- writes are scoped to the token's runs -------------------------------------------------------


def test_another_runs_logged_model_cannot_be_changed(ep_a: Endpoint, ep_b: Endpoint) -> None:
    status, data = call(
        ep_a, "POST", "logged-models", {"experiment_id": "0", "name": "clf", "source_run_id": RUN_A}
    )
    assert status == 200
    model_a = data["model"]["info"]["model_id"]
    _, data = call(ep_a, "POST", "logged-models", {"experiment_id": "0", "name": "loose"})
    loose_a = data["model"]["info"]["model_id"]  # no source run: A's as A created it
    for model in (model_a, loose_a):
        for path, body in [
            (f"logged-models/{model}", {"status": "LOGGED_MODEL_READY"}),
            (f"logged-models/{model}/tags", {"tags": [{"key": "t", "value": "x"}]}),
            # The pattern itself, with the id in the body, is no way around the check.
            ("logged-models/{id}", {"model_id": model, "status": "LOGGED_MODEL_READY"}),
        ]:
            status, err = call(ep_b, "PATCH", path, body)
            assert status in (403, 404), (path, status, err)
            assert set(err) == {"error_code", "message"}
            if "{" not in path:
                assert (status, err["error_code"]) == (403, "PERMISSION_DENIED")
        # Reads stay open, and nothing changed.
        status, data = call(ep_b, "GET", f"logged-models/{model}")
        assert status == 200
        assert data["model"]["info"]["status"] == "LOGGED_MODEL_PENDING"
        assert data["model"]["info"].get("tags", []) == []
    # A changes its own models; B its own and its nested run's.
    status, data = call(ep_a, "PATCH", f"logged-models/{model_a}", {"status": "LOGGED_MODEL_READY"})
    assert (status, data["model"]["info"]["status"]) == (200, "LOGGED_MODEL_READY")
    assert call(ep_a, "PATCH", f"logged-models/{loose_a}/tags", {"tags": []})[0] == 200
    _, data = call(ep_b, "POST", "runs/create", {"experiment_id": "0"})
    kid = data["run"]["info"]["run_id"]
    _, data = call(ep_b, "POST", "logged-models", {"experiment_id": "0", "source_run_id": kid})
    model_kid = data["model"]["info"]["model_id"]
    assert (
        call(ep_b, "PATCH", f"logged-models/{model_kid}", {"status": "LOGGED_MODEL_READY"})[0]
        == 200
    )
    status, err = call(ep_a, "PATCH", f"logged-models/{model_kid}/tags", {"tags": []})
    assert (status, err["error_code"]) == (403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "runs/update", {"run_id": RUN_A, "status": "FAILED", "run_name": "x"}),
        ("POST", "runs/log-parameter", {"run_id": RUN_A, "key": "q", "value": "1"}),
        ("POST", "runs/log-metric", {"run_id": RUN_A, "key": "m", "value": 1, "timestamp": 1}),
        ("POST", "runs/set-tag", {"run_id": RUN_A, "key": "t", "value": "v"}),
        ("POST", "runs/delete-tag", {"run_id": RUN_A, "key": "mlflow.runName"}),
        ("POST", "runs/log-batch", {"run_uuid": RUN_A, "tags": [{"key": "t", "value": "v"}]}),
        ("POST", "runs/log-inputs", {"run_id": RUN_A, "datasets": [{"dataset": {"name": "d"}}]}),
        ("POST", "runs/outputs", {"run_id": RUN_A, "models": [{"model_id": "m-1", "step": 0}]}),
        ("POST", "logged-models", {"experiment_id": "0", "source_run_id": RUN_A}),
    ],
)
def test_every_write_route_is_scoped(
    ep_a: Endpoint, ep_b: Endpoint, method: str, path: str, body: dict[str, Any]
) -> None:
    before = call(ep_a, "GET", f"runs/get?run_id={RUN_A}")[1]
    models_before = call(ep_a, "POST", "logged-models/search", {"experiment_ids": ["0"]})[1]
    status, err = call(ep_b, method, path, body)
    assert (status, err["error_code"]) == (403, "PERMISSION_DENIED")
    assert call(ep_a, "GET", f"runs/get?run_id={RUN_A}")[1] == before
    assert call(ep_a, "POST", "logged-models/search", {"experiment_ids": ["0"]})[1] == (
        models_before
    )


# -- broken HTTP: a JSON answer, no traceback, the server goes on -------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ("Content-Length: abc\r\n", 400),
        ("Content-Length: 1e3\r\n", 400),
        ("Content-Length: -1\r\n", 400),
        ("Content-Length: +5\r\n", 400),
        ("Content-Length: \r\n", 400),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", 400),
        ("Content-Length: 99999999999999999999\r\n", 413),
        (f"Content-Length: {server.MAX_BODY + 1}\r\n", 413),
        ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", 400),
        ("Transfer-Encoding: gzip\r\n", 501),
    ],
)
def test_malformed_body_framing(
    ep_a: Endpoint, capfd: pytest.CaptureFixture[str], headers: str, status: int
) -> None:
    start = time.monotonic()
    got, head, err = raw(ep_a, request(ep_a, "POST", "runs/log-metric", headers))
    assert time.monotonic() - start < 3  # answered at once, not after waiting for a body
    assert got == status and set(err) == {"error_code", "message"}
    assert head["connection"] == "close"
    assert_still_serving(ep_a)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\n" + b"X: y\r\n" * 100 + b"\r\n", 431),
        (b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\nX: " + b"y" * 70000, 431),  # no end
        (b"GET /api/2.0/mlflow/runs/get\r\n\r\n", 400),
        (b"GET /api/2.0/mlflow/runs/get HTTP/2.0\r\n\r\n", 505),
        (b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\nno colon\r\n\r\n", 400),
        (b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\nX : y\r\n\r\n", 400),
        (b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\nX: y\r\n folded\r\n\r\n", 400),
        (b"\xff\xfe\x00\x01 garbage\r\n\r\n", 400),
    ],
)
def test_malformed_heads(
    ep_a: Endpoint, capfd: pytest.CaptureFixture[str], data: bytes, status: int
) -> None:
    got, _, err = raw(ep_a, data)
    assert got == status and set(err) == {"error_code", "message"}
    assert_still_serving(ep_a)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("length", [1000, 10**12])
@pytest.mark.parametrize("auth", ["", "Authorization: Bearer nope\r\n"])
def test_token_is_checked_before_the_body_is_read(
    ep_a: Endpoint, capfd: pytest.CaptureFixture[str], length: int, auth: str
) -> None:
    data = (
        f"POST {API}runs/log-metric HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {length}\r\n\r\n"
    ).encode()
    start = time.monotonic()
    status, _, err = raw(ep_a, data, timeout=3)  # no body is ever sent
    assert time.monotonic() - start < 2
    assert (status, err["error_code"]) == (401, "UNAUTHENTICATED")
    assert_still_serving(ep_a)
    assert capfd.readouterr().err == ""


def test_unexpected_fault_is_a_500_and_closes(
    ep_a: Endpoint, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(ep: object, path: str, args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setitem(server.ROUTES, ("GET", "boom"), boom)
    with socket.create_connection(("127.0.0.1", ep_a.port), timeout=5) as sock:
        sock.sendall(request(ep_a, "GET", "boom"))
        status, head, err = read_response(sock)
        assert (status, err["error_code"]) == (500, "INTERNAL_ERROR")
        assert head["connection"] == "close"
        assert closed_within(sock, 3)
    # A request of the wrong shape is the client's to fix: 400, not a retried 500.
    status, err = call(ep_a, "POST", "runs/outputs", {"run_id": RUN_A, "models": [{"step": 1}]})
    assert (status, err["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, err = call(ep_a, "POST", "runs/log-inputs", {"run_id": RUN_A, "datasets": [1]})
    assert (status, err["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    got, _, err = raw(ep_a, request(ep_a, "POST", "runs/log-metric", "Content-Length: 1\r\n", b"["))
    assert (got, err["error_code"]) == (400, "BAD_REQUEST")
    deep = b"[" * 100000
    got, _, err = raw(
        ep_a, request(ep_a, "POST", "runs/search", f"Content-Length: {len(deep)}\r\n", deep)
    )
    assert got == 400
    assert_still_serving(ep_a)
    assert capfd.readouterr().err == ""


def test_chunked_pipelined_and_expect_continue(ep_a: Endpoint) -> None:
    body = json.dumps({"run_id": RUN_A, "key": "m", "value": 1, "timestamp": 1, "step": 0})
    chunked = (
        f"{len(body[:10]):x}\r\n{body[:10]}\r\n{len(body[10:]):X};ext=1\r\n{body[10:]}\r\n0\r\n"
    )
    with socket.create_connection(("127.0.0.1", ep_a.port), timeout=5) as sock:
        sock.sendall(
            request(ep_a, "POST", "runs/log-metric", "Transfer-Encoding: chunked\r\n")
            + chunked.encode()
            + b"Trailer: x\r\n\r\n"
        )
        assert read_response(sock)[0] == 200
        # Two requests in one write: both answered, in order, on the same connection.
        second = body.replace('"step": 0', '"step": 1').encode()
        one = request(ep_a, "POST", "runs/log-metric", f"Content-Length: {len(second)}\r\n")
        sock.sendall(one + second + request(ep_a, "GET", f"runs/get?run_id={RUN_A}"))
        assert read_response(sock)[0] == 200
        assert read_response(sock)[2]["run"]["info"]["run_id"] == RUN_A
        # Expect: 100-continue is answered before the body is sent.
        third = body.replace('"step": 0', '"step": 2').encode()
        sock.sendall(
            request(
                ep_a,
                "POST",
                "runs/log-metric",
                f"Content-Length: {len(third)}\r\nExpect: 100-continue\r\n",
            )
        )
        interim = b""
        while len(interim) < 25 and (byte := sock.recv(25 - len(interim))):
            interim += byte
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(third)
        assert read_response(sock)[0] == 200
    assert [m.step for m in ep_a.store.metric_history(RUN_A, "m")] == [0, 1, 2]
    for bad in (b"zz\r\n", b"0x5\r\nhello\r\n0\r\n\r\n", b"3\r\nhello\r\n0\r\n\r\n"):
        got, _, err = raw(
            ep_a, request(ep_a, "POST", "runs/log-metric", "Transfer-Encoding: chunked\r\n") + bad
        )
        assert got == 400 and err["error_code"] == "BAD_REQUEST"


# -- connections are bounded ---------------------------------------------------------------------


def test_idle_connections_hold_no_threads(
    ep_a: Endpoint, capfd: pytest.CaptureFixture[str]
) -> None:
    before = threading.active_count()
    idle = []
    try:
        for _ in range(400):
            idle.append(socket.create_connection(("127.0.0.1", ep_a.port), timeout=5))
        time.sleep(0.5)
        assert threading.active_count() <= before + 2
        start = time.monotonic()
        assert_still_serving(ep_a)
        assert time.monotonic() - start < 3
        # A token holder's connections each get a thread, up to MAX_SERVED; beyond, a 503
        # the client retries after Retry-After.
        served = []
        for _ in range(server.MAX_SERVED):
            s = socket.create_connection(("127.0.0.1", ep_a.port), timeout=5)
            s.sendall(request(ep_a, "GET", f"runs/get?run_id={RUN_A}"))
            assert read_response(s)[0] == 200
            served.append(s)
        assert threading.active_count() <= before + 2 + server.MAX_SERVED
        status, head, err = raw(ep_a, request(ep_a, "GET", f"runs/get?run_id={RUN_A}"))
        assert (status, err["error_code"]) == (503, "TEMPORARILY_UNAVAILABLE")
        assert head["retry-after"] == "1"
        served.pop().close()
        deadline = time.monotonic() + 5
        while raw(ep_a, request(ep_a, "GET", f"runs/get?run_id={RUN_A}"))[0] != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for s in served:
            s.close()
    finally:
        for s in idle:
            s.close()
    assert capfd.readouterr().err == ""


def test_idle_and_slow_clients_are_closed(
    root: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("mlrun_cli.store.endpoint.gate.HEAD_TIMEOUT", 1.0)
    monkeypatch.setattr(server, "KEEPALIVE_TIMEOUT", 1.0)
    ep = Endpoint(root, RUN_A, "0", "u")
    ep.start()
    try:
        idle = socket.create_connection(("127.0.0.1", ep.port), timeout=5)
        loris = socket.create_connection(("127.0.0.1", ep.port), timeout=5)
        loris.sendall(b"GET /api/2.0/mlflow/runs/get HTTP/1.1\r\n")
        kept = socket.create_connection(("127.0.0.1", ep.port), timeout=5)
        kept.sendall(request(ep, "GET", f"runs/get?run_id={RUN_A}"))
        assert read_response(kept)[0] == 200
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < 4:
            try:
                loris.sendall(b"X")  # a byte at a time, never a whole head
            except OSError:
                closed = True
                break
            loris.settimeout(0.3)
            try:
                data = loris.recv(65536)
            except TimeoutError:
                continue
            assert b" 408 " in data and b"DEADLINE_EXCEEDED" in data
            closed = closed_within(loris, 3)
            break
        assert closed and time.monotonic() - start < 5
        assert closed_within(idle, 3)
        # A token holder's connection idle past KEEPALIVE_TIMEOUT is closed too.
        assert closed_within(kept, 3)
        assert_still_serving(ep)
    finally:
        ep.stop()
    assert capfd.readouterr().err == ""


@pytest.mark.slow
def test_the_mlflow_client_works_under_a_flood(root: Path) -> None:
    """MLflow's client (requests, keep-alive, threads), in a process of its own, logs while
    400 idle connections and a slow-loris are held open."""
    from tests.integration.mlflow_venvs import mlflow_venv

    python = mlflow_venv("skinny") / "bin" / "python"
    script = textwrap.dedent(
        """
        import os, threading, mlflow
        client = mlflow.MlflowClient()
        run_id = os.environ["MLFLOW_RUN_ID"]
        def log(t):
            for i in range(25):
                client.log_metric(run_id, f"m{t}", i, step=i)
        threads = [threading.Thread(target=log, args=(t,)) for t in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print("DONE", len(client.get_metric_history(run_id, "m0")))
        """
    )
    ep = Endpoint(root, RUN_A, "0", "u")
    ep.start()
    idle = [socket.create_connection(("127.0.0.1", ep.port), timeout=5) for _ in range(400)]
    loris = socket.create_connection(("127.0.0.1", ep.port), timeout=5)
    loris.sendall(b"POST /api/2.0/mlflow/runs/log-metric HTTP/1.1\r\n")
    try:
        proc = subprocess.run(
            [str(python), "-c", script],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, **ep.child_env(), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
        )
        assert proc.returncode == 0, proc.stderr
        assert "DONE 25" in proc.stdout
        assert all(len(ep.store.metric_history(RUN_A, f"m{t}")) == 25 for t in range(4))
    finally:
        for s in [*idle, loris]:
            s.close()
        ep.stop()
