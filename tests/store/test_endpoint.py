"""The endpoint in-process: lifecycle (no socket or thread left) and the HTTP protocol."""

from __future__ import annotations

import http.client
import json
import math
import socket
import threading
from pathlib import Path

import pytest

from mlrun_cli.store.base import NewRun
from mlrun_cli.store.endpoint.scratch import open_scratch
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
    assert (m.model_id, m.dataset_name, m.dataset_digest) == ("m-1", "iris", "abc")
    _, data = call(endpoint, "GET", f"metrics/get-history?run_id={'a' * 32}&metric_key=acc")
    assert data["metrics"][0]["model_id"] == "m-1"


def test_nested_runs_and_writes_to_others_are_refused(endpoint: Endpoint) -> None:
    status, data = call(endpoint, "POST", "runs/create", {"experiment_id": "0", "run_name": "kid"})
    assert status == 200
    kid = data["run"]["info"]["run_id"]
    assert data["run"]["data"]["tags"] == [{"key": "mlflow.runName", "value": "kid"}]
    assert endpoint.owned == {"a" * 32, kid}
    assert (
        call(endpoint, "POST", "runs/set-tag", {"run_id": kid, "key": "k", "value": "v"})[0] == 200
    )
    status, data = call(endpoint, "POST", "runs/update", {"run_id": kid, "status": "FINISHED"})
    assert (status, data["run_info"]["status"]) == (200, "FINISHED")
    # The child's word on our own run is only remembered: the runner decides its status.
    call(endpoint, "POST", "runs/update", {"run_id": "a" * 32, "status": "KILLED"})
    assert endpoint.child_status == "KILLED"
    assert endpoint.store.get_run("a" * 32).status == "RUNNING"
    other = "c" * 32
    endpoint.store.create_run(NewRun(other, "0", "o", "u", "c", {}, {}, start_time=1))
    status, err = call(
        endpoint, "POST", "runs/log-metric", {"run_id": other, "key": "m", "value": 1}
    )
    assert (status, err["error_code"]) == (403, "PERMISSION_DENIED")


def test_logged_models_and_experiments(endpoint: Endpoint) -> None:
    status, data = call(
        endpoint,
        "POST",
        "logged-models",
        {
            "experiment_id": "0",
            "name": "clf",
            "source_run_id": "a" * 32,
            "params": [{"key": "k", "value": "1"}],
        },
    )
    assert status == 200
    model_id = data["model"]["info"]["model_id"]
    assert data["model"]["info"]["status"] == "LOGGED_MODEL_PENDING"
    assert data["model"]["data"]["params"] == [{"key": "k", "value": "1"}]
    status, data = call(
        endpoint, "PATCH", f"logged-models/{model_id}", {"status": "LOGGED_MODEL_READY"}
    )
    assert data["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    assert (
        call(
            endpoint,
            "PATCH",
            f"logged-models/{model_id}/tags",
            {"tags": [{"key": "t", "value": "x"}]},
        )[0]
        == 200
    )
    _, data = call(endpoint, "GET", f"logged-models/{model_id}")
    assert data["model"]["info"]["tags"] == [{"key": "t", "value": "x"}]
    _, data = call(
        endpoint,
        "POST",
        "logged-models/search",
        {"experiment_ids": ["0"], "filter": "name = 'clf'"},
    )
    assert [m["info"]["model_id"] for m in data["models"]] == [model_id]
    status, err = call(endpoint, "POST", "logged-models/search", {"filter": "nope = 'x'"})
    assert (status, err["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, err = call(endpoint, "GET", "logged-models/m-missing")
    assert (status, err["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, data = call(endpoint, "POST", "experiments/create", {"name": "exp"})
    assert status == 200
    _, found = call(endpoint, "GET", "experiments/get-by-name?experiment_name=exp")
    assert found["experiment"]["experiment_id"] == data["experiment_id"]
    status, err = call(endpoint, "POST", "experiments/create", {"name": "exp"})
    assert (status, err["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    status, err = call(endpoint, "GET", "registered-models/get?name=x")
    assert (status, err["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_registry_routes_and_their_token_rules(endpoint: Endpoint, tmp_path: Path) -> None:
    run = "a" * 32
    status, data = call(endpoint, "POST", "registered-models/create", {"name": "iris"})
    assert (status, data["registered_model"]["name"]) == (200, "iris")
    status, err = call(endpoint, "POST", "registered-models/create", {"name": "iris"})
    assert (status, err["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    body = {"name": "iris", "source": f"runs:/{run}/model", "run_id": run}
    status, data = call(endpoint, "POST", "model-versions/create", body)
    assert (status, data["model_version"]["version"], data["model_version"]["status"]) == (
        200,
        "1",
        "READY",
    )
    assert (
        call(
            endpoint,
            "POST",
            "registered-models/alias",
            {"name": "iris", "alias": "champion", "version": "1"},
        )[0]
        == 200
    )
    status, data = call(endpoint, "GET", "registered-models/alias?name=iris&alias=champion")
    assert data["model_version"]["aliases"] == ["champion"]
    status, data = call(endpoint, "GET", "model-versions/get-download-uri?name=iris&version=1")
    assert data["artifact_uri"].startswith("file:///") and data["artifact_uri"].endswith("/model")
    status, data = call(endpoint, "GET", "registered-models/search?filter=name%20LIKE%20'ir%25'")
    assert [m["name"] for m in data["registered_models"]] == ["iris"]
    status, data = call(
        endpoint,
        "POST",
        "model-versions/transition-stage",
        {"name": "iris", "version": "1", "stage": "Staging", "archive_existing_versions": False},
    )
    assert data["model_version"]["current_stage"] == "Staging"
    status, data = call(
        endpoint,
        "POST",
        "registered-models/get-latest-versions",
        {"name": "iris", "stages": ["Staging"]},
    )
    assert [v["version"] for v in data["model_versions"]] == ["1"]
    status, err = call(endpoint, "GET", "model-versions/get?name=iris&version=x")
    assert (status, err["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    status, err = call(endpoint, "GET", "model-versions/get?name=iris&version=7")
    assert (status, err["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert call(endpoint, "GET", "server-info")[0] == 200
    # Another run's model, registered outside this endpoint: readable and open to curation
    # (a promotion script moves an alias), never renamed or deleted from here.
    other = SqliteStore(tmp_path / "s")
    other.create_registered_model("theirs")
    other.create_model_version("theirs", "/x", run_id="b" * 32)
    assert call(endpoint, "GET", "model-versions/get?name=theirs&version=1")[0] == 200
    for method, path, req in (
        ("POST", "registered-models/alias", {"name": "theirs", "alias": "a", "version": "1"}),
        (
            "POST",
            "model-versions/set-tag",
            {"name": "theirs", "version": "1", "key": "k", "value": "v"},
        ),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "theirs", "version": "1", "stage": "Production"},
        ),
        ("PATCH", "registered-models/update", {"name": "theirs", "description": "d"}),
        ("DELETE", "registered-models/alias", {"name": "theirs", "alias": "a"}),
    ):
        assert call(endpoint, method, path, req)[0] == 200, path
    mv = other.get_model_version("theirs", "1")
    assert (mv["current_stage"], mv["tags"]) == ("Production", [{"key": "k", "value": "v"}])
    for method, path, req in (
        ("POST", "registered-models/rename", {"name": "theirs", "new_name": "mine"}),
        ("DELETE", "model-versions/delete", {"name": "theirs", "version": "1"}),
        ("DELETE", "registered-models/delete", {"name": "theirs"}),
        ("POST", "model-versions/create", {"name": "theirs", "source": "runs:/" + "b" * 32 + "/m"}),
    ):
        status, err = call(endpoint, method, path, req)
        assert (status, err["error_code"]) == (403, "PERMISSION_DENIED"), path
    assert (
        call(endpoint, "DELETE", "model-versions/delete", {"name": "iris", "version": "1"})[0]
        == 200
    )
    assert call(endpoint, "DELETE", "registered-models/delete", {"name": "iris"})[0] == 200


def test_scratch_exports_what_the_command_logs(tmp_path: Path) -> None:
    run_id = "d" * 32
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    job = {"run_id": run_id, "experiment_id": "3", "user": "u", "params": {"alpha": "1"}}
    scratch = open_scratch(job, run_dir)
    env = scratch.child_env()
    port = int(env["MLFLOW_TRACKING_URI"].rsplit(":", 1)[1])
    ep = scratch.endpoint
    assert ep.port == port and env["MLFLOW_EXPERIMENT_ID"] == "3"
    # The scratch store keeps the submitting store's experiment id.
    assert call(ep, "GET", "experiments/get?experiment_id=3")[1]["experiment"]["name"] == (
        "experiment-3"
    )
    call(ep, "POST", "runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "1"})
    call(ep, "POST", "runs/log-parameter", {"run_id": run_id, "key": "beta", "value": "2"})
    call(ep, "POST", "runs/set-tag", {"run_id": run_id, "key": "t", "value": "v"})
    call(
        ep,
        "POST",
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": 1, "timestamp": 5, "step": 0},
    )
    scratch.export()
    call(
        ep,
        "POST",
        "runs/log-metric",
        {"run_id": run_id, "key": "m", "value": "NaN", "timestamp": 6, "step": 1},
    )
    artifacts = scratch.store.artifact_dir(run_id)
    (artifacts / "sub").mkdir(parents=True, exist_ok=True)
    (artifacts / "sub" / "f.txt").write_text("x")
    assert scratch.close() == []
    lines = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert lines[:3] == [
        {"type": "param", "key": "beta", "value": "2"},
        {"type": "tag", "key": "t", "value": "v"},
        {"type": "metric", "key": "m", "value": 1.0, "step": 0, "timestamp": 5},
    ]
    assert len(lines) == 4 and lines[3]["step"] == 1 and math.isnan(lines[3]["value"])
    assert (run_dir / "artifacts" / "sub" / "f.txt").read_text() == "x"
    assert not scratch.root.exists()
