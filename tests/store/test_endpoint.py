"""The endpoint in-process: lifecycle (no socket or thread left) and the HTTP protocol."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from pathlib import Path

import pytest

from mlrun_cli.store.base import NewRun
from mlrun_cli.store.endpoint.server import Endpoint
from mlrun_cli.store.sqlite.store import SqliteStore


@pytest.fixture
def endpoint(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path / "s")
    store.create_run(NewRun("a" * 32, "0", "r", "u", "c", {"p": "1"}, {}, start_time=1))
    ep = Endpoint(tmp_path / "s", "a" * 32, "0", "u")
    ep.start()
    yield ep
    ep.stop()


def call(ep: Endpoint, method: str, path: str, body: object = None, token: str | None = None):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", ep.port, timeout=10)
    headers = {"Authorization": f"Bearer {token or ep.token}", "Content-Type": "application/json"}
    conn.request(
        method, "/api/2.0/mlflow/" + path, json.dumps(body) if body is not None else None, headers
    )
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    return resp.status, data


def test_protocol(endpoint: Endpoint) -> None:
    status, data = call(endpoint, "GET", f"runs/get?run_id={'a' * 32}")
    assert status == 200
    info = data["run"]["info"]
    assert info["run_id"] == info["run_uuid"] == "a" * 32
    assert info["artifact_uri"].startswith("file:///")
    assert data["run"]["data"]["params"] == [{"key": "p", "value": "1"}]
    assert (
        call(
            endpoint, "POST", "runs/log-parameter", {"run_uuid": "a" * 32, "key": "p", "value": "1"}
        )[0]
        == 200
    )
    status, err = call(
        endpoint, "POST", "runs/log-parameter", {"run_id": "a" * 32, "key": "p", "value": "2"}
    )
    assert (status, err["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert (
        call(endpoint, "GET", "experiments/get?experiment_id=0")[1]["experiment"]["name"]
        == "Default"
    )
    status, err = call(endpoint, "GET", "experiments/get?experiment_id=9")
    assert (status, err["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, err = call(endpoint, "GET", "nothing/here")
    assert (status, err["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    assert call(endpoint, "GET", f"runs/get?run_id={'a' * 32}", token="bad")[0] == 401


def test_keep_alive_and_many_requests(endpoint: Endpoint) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    headers = {"Authorization": f"Bearer {endpoint.token}", "Content-Type": "application/json"}
    for i in range(50):
        body = {"run_id": "a" * 32, "key": "m", "value": i, "timestamp": 1, "step": i}
        conn.request("POST", "/api/2.0/mlflow/runs/log-metric", json.dumps(body), headers)
        assert conn.getresponse().read() == b"{}"
    conn.close()
    assert len(endpoint.store.metric_history("a" * 32, "m")) == 50


def test_stop_leaves_no_thread_or_socket(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(NewRun("b" * 32, "0", "r", "u", "c", {}, {}, start_time=1))
    before = threading.active_count()
    ep = Endpoint(tmp_path / "s", "b" * 32, "0", "u")
    ep.start()
    idle = socket.create_connection(("127.0.0.1", ep.port))  # a client that never speaks
    call(ep, "GET", f"runs/get?run_id={'b' * 32}")
    ep.stop()
    idle.close()
    assert threading.active_count() == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ep.port), timeout=2)


def test_metrics_keep_model_and_dataset_ids(endpoint: Endpoint) -> None:
    body = {
        "run_id": "a" * 32,
        "key": "acc",
        "value": 0.9,
        "timestamp": 5,
        "step": 2,
        "model_id": "m-1",
        "dataset_name": "iris",
        "dataset_digest": "abc",
    }
    assert call(endpoint, "POST", "runs/log-metric", body)[0] == 200
    (m,) = endpoint.store.metric_history("a" * 32, "acc")
    assert (m.step, m.timestamp) == (2, 5)
    row = endpoint.store.conn.execute(
        "SELECT model_id, dataset_name, dataset_digest FROM metrics WHERE key = 'acc'"
    ).fetchone()
    assert row == ("m-1", "iris", "abc")
    _, data = call(endpoint, "GET", f"metrics/get-history?run_id={'a' * 32}&metric_key=acc")
    assert data["metrics"][0]["model_id"] == "m-1"
