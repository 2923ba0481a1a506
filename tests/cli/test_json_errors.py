"""Under --json, stdout is always one JSON object: a bad-input error too."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

PROJECT = (
    'name: j\nentry_points:\n  main:\n    parameters:\n      a: float\n    command: "echo {a}"\n'
)


def test_a_bad_parameter_is_a_json_error(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    for env in ({}, {"MLRUN_NO_FAST_PATH": "1"}):
        proc = mlrun("run", str(project), "-P", "a=abc", "--json", env=env)
        assert proc.returncode == 2
        error = json.loads(proc.stdout)
        assert error["schema"] == "mlrun.error/1" and error["exit_code"] == 2
        assert proc.stderr == f"error: {error['error']}\n"
        assert "'a'" in error["error"] or "a" in error["error"]


def test_a_usage_error_is_a_json_error(mlrun: Mlrun, isolated: Path) -> None:
    proc = mlrun("runs", "list", "--json", "--limit", "0")
    assert proc.returncode == 2
    error = json.loads(proc.stdout)
    assert error["schema"] == "mlrun.error/1" and error["exit_code"] == 2
    assert "--limit" in error["error"]


def test_without_json_stdout_stays_empty(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(tmp_path / "p", PROJECT)
    proc = mlrun("run", str(project), "-P", "a=abc")
    assert proc.returncode == 2 and proc.stdout == ""
