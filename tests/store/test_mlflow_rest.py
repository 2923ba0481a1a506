from __future__ import annotations

from mlrun_cli.store.base import Metric
from mlrun_cli.store.mlflow_rest.store import batches


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
