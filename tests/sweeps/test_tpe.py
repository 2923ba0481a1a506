from __future__ import annotations

import time
from pathlib import Path

import pytest

from mlrun_cli import tags
from mlrun_cli.errors import ParameterError
from mlrun_cli.store.base import FINISHED, Metric, RunIndex
from mlrun_cli.sweeps.prepare import prepare
from mlrun_cli.sweeps.request import SweepRequest
from mlrun_cli.sweeps.start import record_sweep
from mlrun_cli.sweeps.summary import load_spec

pytest.importorskip("optuna")

from mlrun_cli.sweeps.tpe import TpeSampler


def _tpe_sweep(store: RunIndex, project: Path) -> str:
    req = SweepRequest(
        uri=str(project),
        params={"x": "uniform(0,6)", "mode": "b"},
        method="tpe",
        trials=3,
        metric="score",
        seed=1,
    )
    return record_sweep(store, req, prepare(req))


def test_ask_records_parameters_in_the_space(store: RunIndex, project: Path) -> None:
    sweep_id = _tpe_sweep(store, project)
    first = sorted(store.tagged(tags.SWEEP_ID, sweep_id))[0]
    sampler = TpeSampler(store, sweep_id, load_spec(store, sweep_id))
    sampler.ask(first)
    run = store.get_run(first)
    assert run.params["mode"] == "b" and 0 <= float(run.params["x"]) <= 6
    assert run.tags[tags.SWEEP_TPE_NUMBER] == "0"


def test_the_study_is_rebuilt_from_the_store(store: RunIndex, project: Path) -> None:
    sweep_id = _tpe_sweep(store, project)
    spec = load_spec(store, sweep_id)
    first = sorted(store.tagged(tags.SWEEP_ID, sweep_id))[0]
    sampler = TpeSampler(store, sweep_id, spec)
    sampler.ask(first)
    now = int(time.time() * 1000)
    store.log_batch(first, metrics=[Metric("score", 1.5, 0, now)])
    store.set_terminated(first, FINISHED, now, 0)
    sampler.tell(store.get_run(first))
    again = TpeSampler(store, sweep_id, spec)  # as a resume does
    assert [t.value for t in again.study.trials] == [1.5]


def test_tpe_needs_a_metric(store: RunIndex, project: Path) -> None:
    sweep_id = _tpe_sweep(store, project)
    spec = {**load_spec(store, sweep_id), "metric": None}
    with pytest.raises(ParameterError, match="--method tpe needs --metric"):
        TpeSampler(store, sweep_id, spec)
