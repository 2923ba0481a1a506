from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import pytest

from mlrun_cli.errors import TrackingError
from mlrun_cli.store import open_store
from mlrun_cli.store.base import Metric, NewRun, ParamConflict, RunIndex, Store
from mlrun_cli.store.sqlite import SqliteStore as SqliteStoreFromPackage
from mlrun_cli.store.sqlite.connection import SCHEMA_VERSION
from mlrun_cli.store.sqlite.store import SqliteStore
from mlrun_cli.tags import JOB_ID, SWEEP_ID, SWEEP_INDEX


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


def test_the_embedded_store_keeps_the_contract(tmp_path: Path) -> None:
    # Typed: mypy checks these assignments against the Protocols of base.py.
    store: Store = SqliteStore(tmp_path / "s")
    index: RunIndex | None = store.index()
    assert index is store
    assert store.server() is None
    assert SqliteStore is SqliteStoreFromPackage


def tagged_runs(store: SqliteStore) -> None:
    """Two sweeps: s1 has a1 (RUNNING), a2 (SCHEDULED), a3 (FINISHED); s2 has b1 (FAILED)."""
    for rid, sweep, status in [
        ("a1", "s1", "RUNNING"),
        ("a2", "s1", "SCHEDULED"),
        ("a3", "s1", "FINISHED"),
        ("b1", "s2", "FAILED"),
    ]:
        store.create_run(
            NewRun(rid, "0", f"name-{rid}", "u", "c", {}, {SWEEP_ID: sweep}, start_time=1)
        )
        store.set_status(rid, status)
    store.create_run(new("c1"))  # untagged and RUNNING


def test_active_with_tag(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    tagged_runs(store)
    assert sorted(store.active_with_tag(SWEEP_ID)) == ["a1", "a2"]
    assert store.active_with_tag(SWEEP_ID, ["a2", "a3", "c1"]) == ["a2"]
    assert store.active_with_tag(SWEEP_ID, []) == []
    assert store.active_with_tag(JOB_ID) == []
    assert store.any_active_with_tag(SWEEP_ID)
    assert not store.any_active_with_tag(JOB_ID)
    store.set_status("a1", "FINISHED")
    store.set_status("a2", "KILLED")
    assert not store.any_active_with_tag(SWEEP_ID)


def test_count_tagged_by_status(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    tagged_runs(store)
    assert store.count_tagged_by_status(SWEEP_ID, "s1") == {
        "RUNNING": 1,
        "SCHEDULED": 1,
        "FINISHED": 1,
    }
    assert store.count_tagged_by_status(SWEEP_ID, "s2") == {"FAILED": 1}
    assert store.count_tagged_by_status(SWEEP_ID, "nope") == {}


def test_find_tagged_by_prefix_or_name(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    tagged_runs(store)
    assert sorted(store.find_tagged(SWEEP_ID, "a")) == ["a1", "a2", "a3"]
    assert store.find_tagged(SWEEP_ID, "A2") == ["a2"]  # ids are lowercase hex
    assert store.find_tagged(SWEEP_ID, "name-b1") == ["b1"]
    assert store.find_tagged(SWEEP_ID, "c") == []  # c1 has no such tag
    assert store.find_tagged(SWEEP_ID, "name-a") == []  # a name matches whole


def test_metric_extremes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    for rid in ("a1", "a2", "a3"):
        store.create_run(new(rid))
    store.log_batch("a1", metrics=[Metric("loss", v, i, 1) for i, v in enumerate([3, 1, 2])])
    store.log_batch("a2", metrics=[Metric("loss", 5, 0, 1), Metric("acc", 9, 0, 1)])
    store.log_batch("a3", metrics=[Metric("loss", math.nan, 0, 1)])  # NaN: no extreme
    assert store.metric_extremes(["a1", "a2", "a3"], "loss", "min") == {"a1": 1.0, "a2": 5.0}
    assert store.metric_extremes(["a1", "a2"], "loss", "max") == {"a1": 3.0, "a2": 5.0}
    assert store.metric_extremes(["a1"], "acc", "max") == {}
    assert store.metric_extremes([], "loss", "min") == {}
    with pytest.raises(ValueError, match="agg must be min or max"):
        store.metric_extremes(["a1"], "loss", "avg); DROP TABLE runs; --")


def test_tagged_and_claims(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    for i, rid in enumerate(["e2", "e0", "e1"]):
        index = {"e0": "0", "e1": "1", "e2": "2"}[rid]
        tags = {SWEEP_ID: "sw", SWEEP_INDEX: index}
        store.create_run(NewRun(rid, "0", rid, "u", "c", {}, tags, i, status="SCHEDULED"))
    assert sorted(store.tagged(SWEEP_ID, "sw")) == ["e0", "e1", "e2"]
    assert store.claim_trial("sw", ["SCHEDULED"], 11, "h") == "e0"  # lowest index first
    assert store.claim_trial("sw", ["SCHEDULED"], 12, "h") == "e1"
    assert store.run_owner("e1") == (12, "h")
    store.adopt_run("e1", 13, "h2", 50, "python train.py")
    assert store.run_owner("e1") == (13, "h2")
    assert store.get_run("e1").command == "python train.py"
    store.release("e1")
    assert store.run_owner("e1") == (None, "h2")
    store.mark_started("e2", "node-1", 60)
    assert store.claim_trial("sw", ["SCHEDULED"], 14, "h") is None
    # e1 moved to h2, e2 runs on node-1; a claimed trial starts now, not when it was created
    [(run_id, pid, started)] = store.running_here("h")
    assert (run_id, pid) == ("e0", 11) and abs(started - time.time() * 1000) < 60_000
    assert store.run_owner("nope") == (None, None)


def test_requeue_forgets_the_last_attempt(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(NewRun("a" * 32, "0", "t0", "u", "c", {}, {}, 5, status="RUNNING"))
    store.set_terminated("a" * 32, "FAILED", 99, 1)
    store.requeue("a" * 32)
    run = store.get_run("a" * 32)
    assert (run.status, run.end_time, run.exit_code) == ("SCHEDULED", None, None)
    assert store.run_owner("a" * 32) == (None, None)


def test_ensure_experiment_keeps_the_id(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.ensure_experiment("7", "experiment-7")
    assert store.get_experiment("7").name == "experiment-7"
    store.ensure_experiment("7", "another name")  # exists: left as it is
    store.ensure_experiment("0", "experiment-0")  # the default experiment is there already
    assert [(e.experiment_id, e.name) for e in store.list_experiments()] == [
        ("0", "Default"),
        ("7", "experiment-7"),
    ]


def test_metrics_since_reads_only_what_is_new(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    store.create_run(new("a"))
    store.create_run(new("b"))
    store.log_batch("a", metrics=[Metric("m", 1, 0, 10), Metric("n", math.nan, 1, 11)])
    store.log_batch("b", metrics=[Metric("m", 7, 0, 12)])
    first = store.metrics_since("a", 0)
    assert [(m.key, m.step, m.timestamp) for _, m in first] == [("m", 0, 10), ("n", 1, 11)]
    assert math.isnan(first[1][1].value)
    cursor = first[-1][0]
    assert store.metrics_since("a", cursor) == []
    store.log_batch("a", metrics=[Metric("m", 2, 2, 13)])
    assert [m for _, m in store.metrics_since("a", cursor)] == [Metric("m", 2.0, 2, 13)]


def test_rename_experiment(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s")
    exp = store.create_experiment("old")
    assert store.rename_experiment(exp.experiment_id, "new").name == "new"
    assert store.get_experiment_by_name("old") is None
    with pytest.raises(TrackingError, match="an experiment named 'Default' exists already"):
        store.rename_experiment(exp.experiment_id, "Default")


def test_existing_store_opens_unchanged(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s").create_run(new("a"))
    conn = sqlite3.connect(tmp_path / "s" / "mlrun.db")
    before = conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    again = SqliteStore(tmp_path / "s")
    assert again.get_run("a").params == {"p": "1"}
    conn = sqlite3.connect(tmp_path / "s" / "mlrun.db")
    assert conn.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
