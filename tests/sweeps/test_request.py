from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlrun_cli.errors import ParameterError
from mlrun_cli.sweeps.request import SweepRequest, apply_spec_file


def test_no_spec_file_is_the_request_itself() -> None:
    req = SweepRequest(uri=".", params={"x": "[1,2]"})
    assert apply_spec_file(req) is req


def test_spec_file_fills_what_the_command_line_left_out(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "entry_point: train\nparameters:\n  x: [1, 2]\n  lr: 0.1\nmethod: grid\n"
        "metric: acc\ngoal: minimize\nseed: 3\njobs: 2\n"
    )
    req = apply_spec_file(SweepRequest(uri=".", spec_file=spec))
    assert req.entry_point == "train"
    assert dict(req.params) == {"x": "[1,2]", "lr": "0.1"}  # a YAML list is a grid
    assert (req.method, req.metric, req.goal, req.seed, req.jobs) == (
        "grid",
        "acc",
        "minimize",
        3,
        2,
    )


def test_command_line_wins_over_the_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("parameters:\n  x: [1, 2]\nmethod: grid\nmetric: acc\nseed: 3\n")
    req = apply_spec_file(
        SweepRequest(
            uri=".",
            spec_file=spec,
            params={"x": "[5]"},
            method="random",
            metric="loss",
            seed=0,
            trials=4,
        )
    )
    assert dict(req.params) == {"x": "[5]"}
    assert (req.method, req.metric, req.seed, req.trials) == ("random", "loss", 0, 4)


def test_jobs_auto_is_the_cpu_count(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("jobs: auto\n")
    assert apply_spec_file(SweepRequest(uri=".", spec_file=spec)).jobs == (os.cpu_count() or 1)


def test_invalid_spec_file_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("parameters: {x: [1]}\ntrials: 0\n")
    with pytest.raises(ParameterError, match="trials"):
        apply_spec_file(SweepRequest(uri=".", spec_file=spec))
