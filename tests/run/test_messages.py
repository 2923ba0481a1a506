"""What a run says when the command refuses its arguments or a parameter name is off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import write_project

PROJECT = """
name: m
entry_points:
  main:
    parameters:
      C: {type: float, default: 1.0}
      kernel: {type: string, default: rbf}
    command: "python -c 'import argparse; p = argparse.ArgumentParser(); p.add_argument(\\"--C\\"); p.add_argument(\\"--kernel\\"); p.parse_args()' --C {C} --kernel {kernel}"
"""


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "--env-manager", "local", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_close_parameter_name_is_pointed_out(tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = _run(project, "-P", "c=0.5")
    assert (
        "warning: -P c=... is not a parameter of entry point 'main' and is passed as --c; "
        "did you mean -P C=...?\n"
    ) in proc.stderr
    proc = _run(project, "-P", "kernal=linear")
    assert "did you mean -P kernel=...?" in proc.stderr


def test_a_command_that_rejects_its_arguments_is_named(tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = _run(project, "-P", "bogus=1")  # argparse: unrecognized arguments, exit 2
    assert proc.returncode == 2
    assert "warning: the command rejected its arguments (exit 2): python -c" in proc.stderr
    assert "did you mean" not in proc.stderr  # nothing close to 'bogus'
    ok = _run(project)
    assert ok.returncode == 0 and "rejected" not in ok.stderr
