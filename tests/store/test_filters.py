from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.store.base import Metric, NewRun
from mlrun_cli.store.filters import Clause, FilterError, OrderBy, parse_filter, parse_order_by
from mlrun_cli.store.sqlite.store import SqliteStore


def test_parse_clauses() -> None:
    assert parse_filter("metrics.accuracy > 0.9 and params.kernel = 'linear'") == [
        Clause("metric", "accuracy", ">", 0.9),
        Clause("param", "kernel", "=", "linear"),
    ]
    assert parse_filter('tags.`my tag` LIKE "x%" AND attributes.status IN (\'A\', "B")') == [
        Clause("tag", "my tag", "LIKE", "x%"),
        Clause("attribute", "status", "IN", ("A", "B")),
    ]
    assert parse_filter("metric.val.loss <= -1e-3 and run.status NOT IN ('KILLED')") == [
        Clause("metric", "val.loss", "<=", -0.001),
        Clause("attribute", "status", "NOT IN", ("KILLED",)),
    ]
    assert parse_filter("  ") == []


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("metrics.a >", "expected a value, found the end at column 12"),
        ("metrics.a > 'x'", "expected a number, found \"'x'\" at column 13"),
        (
            "params.k > 'x'",
            "expected one of =, !=, LIKE, ILIKE, IN, NOT IN, found '>' at column 10",
        ),
        ("foo.a = 1", "expected metrics., params., tags. or attributes., found 'foo' at column 1"),
        (
            "metrics.a = 1 or metrics.b = 2",
            "expected AND between clauses (OR is not supported), found 'or' at column 15",
        ),
        ("attributes.nope = 'x'", "unknown attribute"),
        ("params.k = 'x' ; drop", "unexpected character ';' at column 16"),
        ("params.k IN 'x'", "expected '(' after IN, found \"'x'\" at column 13"),
    ],
)
def test_errors_point_at_the_token(expr: str, message: str) -> None:
    with pytest.raises(FilterError) as err:
        parse_filter(expr)
    assert str(err.value).startswith(f"filter {expr!r}: ")
    assert message in str(err.value)


def test_order_by() -> None:
    assert parse_order_by(["metrics.acc DESC", "params.C", "attributes.start_time asc"]) == [
        OrderBy("metric", "acc", True),
        OrderBy("param", "C", False),
        OrderBy("attribute", "start_time", False),
    ]
    with pytest.raises(FilterError, match="expected ASC or DESC"):
        parse_order_by(["metrics.acc sideways"])


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "s")
    data = [
        ("a1", {"kernel": "linear", "C": "1"}, {"acc": 0.95}, {"team": "Blue"}, "FINISHED"),
        ("a2", {"kernel": "rbf", "C": "10"}, {"acc": 0.80}, {"team": "blue"}, "FINISHED"),
        ("a3", {"kernel": "linear", "C": "0.1"}, {}, {}, "FAILED"),
    ]
    for i, (rid, params, metrics, tags, status) in enumerate(data):
        store.create_run(NewRun(rid, "0", rid, "u", "c", params, tags, start_time=i))
        store.log_batch(rid, metrics=[Metric(k, v, 0, 1) for k, v in metrics.items()])
        store.set_terminated(rid, status, 10, 0)
    return store


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("metrics.acc > 0.9", ["a1"]),
        ("metrics.acc >= 0.8 and params.kernel = 'rbf'", ["a2"]),
        ("params.kernel != 'rbf'", ["a3", "a1"]),
        ("tags.team LIKE 'b%'", ["a2"]),
        ("tags.team ILIKE 'b%'", ["a2", "a1"]),
        ("attributes.status IN ('FAILED')", ["a3"]),
        ("attributes.run_name = 'a2'", ["a2"]),
        ("params.C IN ('1', '10')", ["a2", "a1"]),
    ],
)
def test_search_with_filters(store: SqliteStore, expr: str, expected: list[str]) -> None:
    assert [r.run_id for r in store.search_runs(filter_string=expr)] == expected


def test_search_order_by_metric_nulls_last(store: SqliteStore) -> None:
    assert [r.run_id for r in store.search_runs(order_by=["metrics.acc DESC"])] == [
        "a1",
        "a2",
        "a3",
    ]
    assert [r.run_id for r in store.search_runs(order_by=["metrics.acc ASC"])] == ["a2", "a1", "a3"]
    assert [r.run_id for r in store.search_runs(order_by=["params.C"])] == ["a3", "a1", "a2"]
