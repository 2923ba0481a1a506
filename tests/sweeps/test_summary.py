from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from mlrun_cli import tags
from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import FAILED, FINISHED, KILLED, SCHEDULED, Metric, Run, RunIndex
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.start import record_sweep
from mlrun_cli.sweeps.summary import (
    best_trial,
    find_sweep,
    finish_sweep,
    list_sweeps,
    load_spec,
    rank_trials,
    report_trial,
    show,
    trial_counts,
    trial_line,
    trial_row,
)


def _trial(index: int, status: str, metric: float | None) -> dict[str, object]:
    return {"index": index, "run_id": f"r{index}", "status": status, "params": {}, "metric": metric}


def test_best_trial_is_the_best_finished_one_toward_the_goal() -> None:
    trials = [
        _trial(0, FINISHED, 1.0),
        _trial(1, FINISHED, 3.0),
        _trial(2, FAILED, 9.0),  # a failed trial never wins
        _trial(3, FINISHED, math.nan),  # nor does NaN
        _trial(4, FINISHED, None),
    ]
    assert best_trial(trials, "maximize") == {
        "index": 1,
        "run_id": "r1",
        "value": 3.0,
        "params": {},
    }
    assert best_trial(trials, "minimize") == {
        "index": 0,
        "run_id": "r0",
        "value": 1.0,
        "params": {},
    }
    assert best_trial([_trial(0, FAILED, 1.0)], "maximize") is None


def test_ties_go_to_the_first_trial() -> None:
    trials = [_trial(2, FINISHED, 1.0), _trial(1, FINISHED, 1.0)]
    best = best_trial(trials, "maximize")
    assert best is not None and best["index"] == 2


def test_rank_trials_best_first_unscored_last_or_by_index() -> None:
    trials = [_trial(0, FINISHED, None), _trial(1, FINISHED, 1.0), _trial(2, FINISHED, 5.0)]
    rank_trials(trials, True, "maximize")
    assert [t["index"] for t in trials] == [2, 1, 0]
    rank_trials(trials, True, "minimize")
    assert [t["index"] for t in trials] == [1, 2, 0]
    rank_trials(trials, False, "maximize")
    assert [t["index"] for t in trials] == [0, 1, 2]


def _run(status: str = FINISHED, **kw: object) -> Run:
    fields: dict[str, object] = {
        "run_id": "abc",
        "experiment_id": "0",
        "name": "t",
        "status": status,
        "start_time": 1000,
        "end_time": 3500,
        "params": {"x": "2", "y": "z"},
        "tags": {tags.SWEEP_INDEX: "4"},
        "metrics": {"score": Metric("score", 0.123456789)},
    }
    fields.update(kw)
    return Run(**fields)  # type: ignore[arg-type]


def test_trial_line() -> None:
    spec = {"varying": ["x"], "metric": "score"}
    assert trial_line(_run(), spec, 2, 5) == "[2/5] trial 4 FINISHED x=2 score=0.123457 (2.5s)"
    bare = _run(FAILED, end_time=None, metrics={})
    assert trial_line(bare, {"varying": []}, 1, 1) == "[1/1] trial 4 FAILED "


def test_report_trial_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    report_trial(_run(), {"varying": ["x"], "metric": "score"}, 1, 2)
    out, err = capsys.readouterr()
    assert out == "" and err == "[1/2] trial 4 FINISHED x=2 score=0.123457 (2.5s)\n"


def test_trial_row() -> None:
    row = trial_row(_run(tags={tags.SWEEP_INDEX: "4", tags.LOST: "true"}), 0.5)
    assert row == {
        "index": 4,
        "run_id": "abc",
        "status": FINISHED,
        "params": {"x": "2", "y": "z"},
        "metric": 0.5,
        "duration_s": 2.5,
        "lost": True,
        "linked_run": None,
    }
    assert trial_row(_run(SCHEDULED), None)["duration_s"] is None


def _sweep(store: RunIndex, project: Path, **req: object) -> str:
    request = SweepRequest(uri=str(project), **req)  # type: ignore[arg-type]
    return record_sweep(store, request, prepare(request))


def _end(store: RunIndex, run_id: str, status: str, score: float | None = None) -> None:
    now = int(time.time() * 1000)
    if score is not None:
        store.log_batch(run_id, metrics=[Metric("score", score, 0, now)])
    store.set_terminated(run_id, status, now, 0 if status == FINISHED else 1)


def _trials(store: RunIndex, sweep_id: str) -> list[str]:
    runs = store.load_runs(store.tagged(tags.SWEEP_ID, sweep_id))
    return [r.run_id for r in sorted(runs, key=lambda r: int(r.tags[tags.SWEEP_INDEX]))]


def test_show_and_finish(store: RunIndex, project: Path) -> None:
    sweep_id = _sweep(store, project, params={"x": "[1,2,3]"}, metric="score", name="s1")
    assert load_spec(store, sweep_id)["count"] == 3
    a, b, c = _trials(store, sweep_id)
    _end(store, a, FINISHED, 1.0)
    _end(store, b, FINISHED, 2.0)
    _end(store, c, FAILED)
    assert trial_counts(store, sweep_id) == {FINISHED: 2, FAILED: 1}
    summary = show(store, sweep_id)
    assert summary["schema"] == "mlrun.sweep/1"
    assert [t["index"] for t in summary["trials"]] == [1, 0, 2]
    assert summary["best"]["run_id"] == b and summary["counts"] == {FINISHED: 2, FAILED: 1}
    ended = finish_sweep(store, sweep_id, None)
    assert ended["exit_code"] == 1 and ended["sweep"]["status"] == FAILED
    parent = store.get_run(sweep_id)
    assert parent.tags[tags.SWEEP_BEST_RUN] == b and parent.metrics["best_score"].value == 2.0


def test_show_aggregates_the_metric_history(store: RunIndex, project: Path) -> None:
    sweep_id = _sweep(store, project, params={"x": "[1,2]"}, metric="score")
    a, b = _trials(store, sweep_id)
    for run_id, values in ((a, (5.0, 1.0)), (b, (2.0, 3.0))):
        store.log_batch(run_id, metrics=[Metric("score", v, i, i) for i, v in enumerate(values)])
        _end(store, run_id, FINISHED)
    assert show(store, sweep_id)["best"]["run_id"] == b  # last: 1.0 and 3.0
    assert show(store, sweep_id, agg="max")["best"]["run_id"] == a  # max: 5.0 and 3.0
    assert show(store, sweep_id, agg="min")["trials"][0]["metric"] == 2.0


def test_an_interrupted_sweep_is_killed_with_128_plus_the_signal(
    store: RunIndex, project: Path
) -> None:
    sweep_id = _sweep(store, project, params={"x": "[1]"})
    ended = finish_sweep(store, sweep_id, 2)
    assert ended["exit_code"] == 130 and store.get_run(sweep_id).status == KILLED


def test_find_sweep_by_prefix_or_name(store: RunIndex, project: Path) -> None:
    one = _sweep(store, project, params={"x": "[1]"}, name="first")
    _sweep(store, project, params={"x": "[2]"}, name="second")
    assert find_sweep(store, one[:8]).run_id == one
    assert find_sweep(store, "first").run_id == one
    with pytest.raises(ParameterError, match="no sweep 'nope'"):
        find_sweep(store, "nope")
    with pytest.raises(ParameterError, match="is ambiguous"):
        find_sweep(store, "")
    trial = _trials(store, one)[0]
    with pytest.raises(ParameterError, match="no sweep"):
        find_sweep(store, trial)  # a trial is not a sweep


def test_list_sweeps_newest_first(store: RunIndex, project: Path) -> None:
    old = _sweep(store, project, params={"x": "[1,2]"})
    time.sleep(0.01)
    new = _sweep(store, project, params={"x": "[3]"})
    found = list_sweeps(store)
    assert [s["run_id"] for s in found] == [new, old]
    assert found[1]["count"] == 2 and found[1]["counts"] == {SCHEDULED: 2}
