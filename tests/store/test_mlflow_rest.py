from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlrun_cli.errors import TrackingError
from mlrun_cli.store import open_store
from mlrun_cli.store.base import Metric, ServerStore, Store
from mlrun_cli.store.mlflow_rest.client import ServerError, ServerUnreachable
from mlrun_cli.store.mlflow_rest.store import MlflowRestStore, batches


def test_batches_respect_mlflow_limits() -> None:
    params = {f"p{i}": str(i) for i in range(250)}
    tags = {f"t{i}": "x" for i in range(120)}
    metrics = [Metric("m", i, i, 1) for i in range(2500)]
    bodies = batches("r", params, metrics, tags)
    for body in bodies:
        assert len(body["params"]) <= 100
        assert len(body["tags"]) <= 100
        assert len(body["metrics"]) <= 1000
        assert len(body["params"]) + len(body["tags"]) + len(body["metrics"]) <= 1000
    assert sum(len(b["params"]) for b in bodies) == 250
    assert sum(len(b["tags"]) for b in bodies) == 120
    assert [m["step"] for b in bodies for m in b["metrics"]] == list(range(2500))
    assert batches("r", {}, [], {}) == []


class FakeMlflow(http.server.BaseHTTPRequestHandler):
    """The experiments part of MLflow's REST API, over a dict, recording every request."""

    experiments: dict[str, str] = {}
    requests: list[tuple[str, str, Any]] = []

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.requests.append((self.command, parts.path, body or query))
        path = parts.path.removeprefix("/api/2.0/mlflow/")
        names = {name: eid for eid, name in self.experiments.items()}
        status, payload = 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no"}
        if path == "experiments/get" and query["experiment_id"] in self.experiments:
            status, payload = 200, {"experiment": self._exp(query["experiment_id"])}
        elif path == "experiments/get-by-name" and query["experiment_name"] in names:
            status, payload = 200, {"experiment": self._exp(names[query["experiment_name"]])}
        elif path == "experiments/update" and body and body["experiment_id"] in self.experiments:
            self.experiments[body["experiment_id"]] = body["new_name"]
            status, payload = 200, {}
        elif path == "experiments/search":
            status, payload = 200, {"experiments": [self._exp(e) for e in self.experiments]}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _exp(self, eid: str) -> dict[str, Any]:
        return {"experiment_id": eid, "name": self.experiments[eid], "lifecycle_stage": "active"}

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MlflowRestStore, type[FakeMlflow]]]:
    monkeypatch.setenv("MLRUN_HTTP_RETRIES", "0")
    monkeypatch.setattr(FakeMlflow, "experiments", {"0": "Default", "4": "old"})
    monkeypatch.setattr(FakeMlflow, "requests", [])
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeMlflow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield MlflowRestStore(f"http://127.0.0.1:{httpd.server_address[1]}"), FakeMlflow
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_server_store_keeps_the_contract(
    server: tuple[MlflowRestStore, type[FakeMlflow]],
) -> None:
    # Typed: mypy checks these assignments against the Protocols of base.py.
    store: Store = open_store(server[0].uri)
    assert isinstance(store, MlflowRestStore)
    capability: ServerStore | None = store.server()
    assert capability is store
    assert store.index() is None


def test_rename_experiment_posts_experiments_update(
    server: tuple[MlflowRestStore, type[FakeMlflow]],
) -> None:
    store, fake = server
    renamed = store.rename_experiment("4", "new")
    assert (renamed.experiment_id, renamed.name) == ("4", "new")
    assert fake.experiments == {"0": "Default", "4": "new"}
    assert (
        "POST",
        "/api/2.0/mlflow/experiments/update",
        {"experiment_id": "4", "new_name": "new"},
    ) in fake.requests
    assert [e.name for e in store.list_experiments()] == ["Default", "new"]


def test_rename_experiment_refuses_a_taken_name_or_unknown_id(
    server: tuple[MlflowRestStore, type[FakeMlflow]],
) -> None:
    store, fake = server
    with pytest.raises(TrackingError, match="an experiment named 'Default' exists already"):
        store.rename_experiment("4", "Default")
    with pytest.raises(TrackingError, match="no experiment with id '9' on http"):
        store.rename_experiment("9", "other")
    assert not any(path.endswith("experiments/update") for _, path, _ in fake.requests)
    assert fake.experiments == {"0": "Default", "4": "old"}


def test_errors_carry_the_status_and_mlflow_code(
    server: tuple[MlflowRestStore, type[FakeMlflow]],
) -> None:
    store, _ = server
    with pytest.raises(ServerError) as err:
        store.client.request("GET", "runs/nothing")
    assert (err.value.status, err.value.code) == (404, "RESOURCE_DOES_NOT_EXIST")
    assert str(err.value).endswith("GET runs/nothing failed (404 RESOURCE_DOES_NOT_EXIST): no")
    assert store.get_experiment_by_name("absent") is None


def test_unreachable_server_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLRUN_HTTP_RETRIES", "0")
    store = MlflowRestStore("http://user:s3cret@127.0.0.1:9")
    assert store.uri == "http://127.0.0.1:9"
    assert "s3cret" not in store.shown
    with pytest.raises(ServerUnreachable, match="is unreachable") as err:
        store.list_experiments()
    assert "s3cret" not in str(err.value)
