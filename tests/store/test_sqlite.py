from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from mlrun_cli.errors import TrackingError
from mlrun_cli.store import open_store
from mlrun_cli.store.base import Metric, NewRun, ParamConflict
from mlrun_cli.store.sqlite.store import SqliteStore


def new(run_id: str, start: int = 1) -> NewRun:
    return NewRun(run_id, "0", run_id, "u", "cmd", {"p": "1"}, {"t": "x"}, start_time=start)


def test_store_is_created_with_wal_and_gitignore(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(new("a"))
    assert (tmp_path / "s" / ".gitignore").read_text().splitlines()[-1] == "*"
    mode = sqlite3.connect(tmp_path / "s" / "mlrun.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert [e.name for e in store.list_experiments()] == ["Default"]


def test_latest_metric_is_highest_step_then_newest(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(new("a"))
    store.log_batch(
        "a", metrics=[Metric("m", 1, 5, 100), Metric("m", 2, 3, 200), Metric("m", 3, 5, 150)]
    )
    assert store.get_run("a").metrics["m"] == Metric("m", 3.0, 5, 150)
    store.log_batch("a", metrics=[Metric("m", math.nan, 6, 1)])
    assert math.isnan(store.get_run("a").metrics["m"].value)
    assert [m.step for m in store.metric_history("a", "m")] == [3, 5, 5, 6]


def test_params_are_immutable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(new("a"))
    store.log_batch("a", params={"p": "1"})  # same value: fine
    with pytest.raises(ParamConflict):
        store.log_batch("a", params={"q": "2", "p": "9"})
    assert store.get_run("a").params == {"p": "1"}  # nothing of the failed batch landed


def test_prefix_lookup(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(new("abc1"))
    store.create_run(new("abc2"))
    assert store.get_run("abc1").run_id == "abc1"
    with pytest.raises(TrackingError, match="ambiguous"):
        store.get_run("abc")
    with pytest.raises(TrackingError, match="is not a run id"):
        store.get_run("x'; drop")


def test_search_orders_newest_first_and_filters_status(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    for i in range(3):
        store.create_run(new(f"a{i}", start=i))
    store.set_terminated("a1", "FAILED", 5, 1)
    assert [r.run_id for r in store.search_runs()] == ["a2", "a1", "a0"]
    assert [r.run_id for r in store.search_runs(statuses=["FAILED"])] == ["a1"]
    assert [r.run_id for r in store.search_runs(limit=1)] == ["a2"]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s").create_run(new("a"))
    conn = sqlite3.connect(tmp_path / "s" / "mlrun.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(TrackingError, match="written by a newer mlrun"):
        SqliteStore(tmp_path / "s").get_run("a")


@pytest.mark.parametrize("uri", ["sqlite:///mlflow.db", "file:./mlruns", "postgresql://h/db"])
def test_mlflow_uris_are_refused(uri: str) -> None:
    with pytest.raises(TrackingError, match="is an MLflow store"):
        open_store(uri)


def test_mlrun_scheme_and_paths(tmp_path: Path) -> None:
    assert isinstance(open_store(f"mlrun://{tmp_path / 'x'}"), SqliteStore)
    assert isinstance(open_store(str(tmp_path / "y")), SqliteStore)
    (tmp_path / "file").write_text("")
    with pytest.raises(TrackingError, match="is a file, not a store directory"):
        open_store(str(tmp_path / "file"))
