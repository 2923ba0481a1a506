from __future__ import annotations

import pytest

from mlrun_cli import tags
from mlrun_cli.store.base import FINISHED, Run
from mlrun_cli.sweeps.scheduler import TrialLines


def test_trial_lines_say_each_ended_trial(capsys: pytest.CaptureFixture[str]) -> None:
    lines = TrialLines()
    lines.begin({"varying": ["x"], "metric": None}, 2)
    run = Run(
        run_id="r",
        experiment_id="0",
        name="t",
        status=FINISHED,
        start_time=1000,
        end_time=2000,
        params={"x": "1"},
        tags={tags.SWEEP_INDEX: "0"},
    )
    lines.trial_ended(run, 1)
    lines.end()
    assert capsys.readouterr().err == "[1/2] trial 0 FINISHED x=1 (1.0s)\n"
