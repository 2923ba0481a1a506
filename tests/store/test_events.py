from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from mlrun_cli import tracking
from mlrun_cli.store.base import NewRun
from mlrun_cli.store.events import EventReader, copy_artifact, ingest
from mlrun_cli.store.sqlite.store import SqliteStore


@pytest.fixture
def run(tmp_path: Path) -> tuple[SqliteStore, str]:
    store = SqliteStore(tmp_path / "store")
    store.create_run(NewRun("a1", "0", "n", "u", "cmd", {"alpha": "1"}, {}, start_time=1))
    return store, "a1"


def test_helper_lines_are_ingested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: tuple[SqliteStore, str]
) -> None:
    store, run_id = run
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("MLRUN_EVENTS_FILE", str(events))
    (tmp_path / "f.txt").write_text("x")
    tracking.log_params({"beta": 2, "alpha": 1})
    tracking.log_metric("loss", 0.5, step=1)
    tracking.log_metric("loss", float("nan"), step=2)
    tracking.log_metric("big", float("inf"))
    tracking.set_tag("t", "v")
    tracking.log_artifact(str(tmp_path / "f.txt"), artifact_path="sub")
    problems: list[str] = []
    reader = EventReader(events, tmp_path)
    ingest(reader.read(), run_id, store.log_batch, store.artifact_dir(run_id), problems.append)
    got = store.get_run(run_id)
    assert problems == []
    assert got.params == {"alpha": "1", "beta": "2"}
    assert got.metrics["loss"].step == 2 and math.isnan(got.metrics["loss"].value)
    assert got.metrics["big"].value == math.inf
    assert got.tags == {"t": "v"}
    assert (store.artifact_dir(run_id) / "sub" / "f.txt").read_text() == "x"


def test_malformed_lines_are_reported_and_others_kept(
    tmp_path: Path, run: tuple[SqliteStore, str]
) -> None:
    store, run_id = run
    events = tmp_path / "events.jsonl"
    lines = [
        json.dumps({"type": "metric", "key": "a", "value": 1}),
        "{not json",
        json.dumps({"type": "metric", "key": "a"}),
        json.dumps({"type": "nope"}),
        json.dumps({"type": "param", "key": "alpha", "value": "2"}),
        json.dumps({"type": "metric", "key": "b", "value": 2, "step": 4}),
    ]
    events.write_text("\n".join(lines) + "\n" + '{"type": "tag", "key": "partial"')
    problems: list[str] = []
    reader = EventReader(events, tmp_path)
    ingest(reader.read(), run_id, store.log_batch, store.artifact_dir(run_id), problems.append)
    assert [p.split(":")[0] for p in problems] == [
        "events.jsonl line 2",
        "events.jsonl line 3",
        "events.jsonl line 4",
        "param 'alpha' of run a1 was already logged as '1'; cannot change it to '2'",
    ][: len(problems)]
    assert len(problems) == 4
    got = store.get_run(run_id)
    assert {k: m.value for k, m in got.metrics.items()} == {"a": 1.0, "b": 2.0}
    assert got.params == {"alpha": "1"}
    # The incomplete last line is read once it is complete.
    with open(events, "a") as fh:
        fh.write(', "value": "yes"}\n')
    ingest(reader.read(), run_id, store.log_batch, store.artifact_dir(run_id), problems.append)
    assert store.get_run(run_id).tags == {"partial": "yes"}


def test_artifact_path_cannot_leave_the_folder(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(OSError, match="leaves the artifact folder"):
        copy_artifact(src, tmp_path / "arts", "../outside")


def test_helper_outside_a_run_warns_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlrun_cli.tracking import client

    monkeypatch.setattr(client, "_warned", False)
    tracking.log_metric("a", 1)
    tracking.log_metric("a", 2)
    assert (
        capsys.readouterr().err
        == "mlrun_cli.tracking: not running under 'mlrun run'; nothing is recorded\n"
    )
