from __future__ import annotations

import pytest

from mlrun_cli import tags
from mlrun_cli.store.base import FINISHED, Run
from mlrun_cli.sweeps.scheduler import TrialLines


def test_trial_lines_say_the_sweep_then_each_trial(capsys: pytest.CaptureFixture[str]) -> None:
    lines = TrialLines()
    lines.begin("ab" * 16, {"varying": ["x"], "metric": None}, 2, 0, False)
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
    lines.trial_started(run)
    lines.trial_output(b"not shown: the trial writes to our stdout itself\n")
    lines.trial_ended(run, 1)
    lines.end()
    assert capsys.readouterr().err == (
        "sweep abababab: 2 trials\ntrial 0 started, run r: x=1\n[1/2] trial 0 FINISHED x=1 (1.0s)\n"
    )


def test_a_resume_says_how_many_were_done(capsys: pytest.CaptureFixture[str]) -> None:
    TrialLines().begin("ab" * 16, {"varying": []}, 6, 2, False)
    assert capsys.readouterr().err == "sweep abababab: 6 trials, 2 done\n"
    TrialLines().begin("ab" * 16, {"varying": []}, 6, 0, True)
    assert capsys.readouterr().err == (
        "sweep abababab: 6 trials; each trial's output is in its log (mlrun logs RUN)\n"
    )
