from __future__ import annotations

import json
import os
from pathlib import Path

from mlrun_cli import tags
from mlrun_cli.store.base import SCHEDULED, RunIndex
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.start import record_sweep
from mlrun_cli.sweeps.summary import SPEC_FILE


def test_record_sweep_creates_the_parent_its_spec_and_scheduled_trials(
    store: RunIndex, project: Path
) -> None:
    req = SweepRequest(
        uri=str(project),
        params={"x": "[1,2]"},
        metric="score",
        goal="minimize",
        name="mine",
        command="mlrun sweep . -P x=[1,2]",
        experiment_name="tuning",
    )
    prep = prepare(req)
    sweep_id = record_sweep(store, req, prep)
    parent = store.get_run(sweep_id)
    assert parent.name == "mine" and parent.command == "mlrun sweep . -P x=[1,2]"
    assert store.run_owner(sweep_id)[0] == os.getpid()
    assert {k: v for k, v in parent.tags.items() if k.startswith("mlrun.sweep")} == {
        tags.SWEEP: "true",
        tags.SWEEP_HASH: prep.hash,
        tags.SWEEP_METHOD: "grid",
        tags.SWEEP_COUNT: "2",
        tags.SWEEP_SEED: str(prep.sweep.seed),
        tags.SWEEP_METRIC: "score",
        tags.SWEEP_GOAL: "minimize",
    }
    assert json.loads((store.artifact_dir(sweep_id) / SPEC_FILE).read_text()) == prep.spec
    trials = sorted(
        store.load_runs(store.tagged(tags.SWEEP_ID, sweep_id)),
        key=lambda r: int(r.tags[tags.SWEEP_INDEX]),
    )
    assert [(t.name, t.status, dict(t.params)) for t in trials] == [
        ("mine-0", SCHEDULED, {"x": "1"}),
        ("mine-1", SCHEDULED, {"x": "2"}),
    ]
    assert all(t.tags[tags.PARENT_RUN] == sweep_id for t in trials)
    assert {t.experiment_id for t in trials} == {parent.experiment_id} != {"0"}


def test_the_default_name_and_command(store: RunIndex, project: Path) -> None:
    req = SweepRequest(uri=str(project), params={"x": "[1]"})
    sweep_id = record_sweep(store, req, prepare(req))
    parent = store.get_run(sweep_id)
    assert parent.name == f"sweep-main-{sweep_id[:6]}" and parent.command == "mlrun sweep"
    assert tags.SWEEP_METRIC not in parent.tags
