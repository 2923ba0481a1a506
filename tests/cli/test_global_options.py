"""Global options work after the subcommand too: `mlrun run . -q` is `mlrun -q run .`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import click
import pytest

from mlrun_cli.cli.app import cli, hoist_global_options
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["run", ".", "-q"], ["-q", "run", "."]),
        (["runs", "list", "--verbose"], ["--verbose", "runs", "list"]),
        (["-q", "run", "."], ["-q", "run", "."]),
        (["run", "-P", "-q"], ["run", "-P", "-q"]),  # the value of -P stays
        (["run", "-e", "x", "-v", "--json"], ["-v", "run", "-e", "x", "--json"]),
        (["run", "--", "-q"], ["run", "--", "-q"]),
    ],
)
def test_hoisting(args: list[str], want: list[str]) -> None:
    ctx = click.Context(cli)
    assert hoist_global_options(cli, ctx, args) == want


def test_quiet_after_the_subcommand(mlrun: Mlrun, tmp_path: Path, isolated: Path) -> None:
    project = write_project(
        tmp_path / "p", 'name: q\nentry_points:\n  main:\n    command: "echo hi"\n'
    )
    for env in ({}, {"MLRUN_NO_FAST_PATH": "1"}):
        proc = mlrun("run", str(project), "--env-manager", "local", "-q", env=env)
        assert proc.returncode == 0, proc.stderr
        assert (proc.stdout, proc.stderr) == ("hi\n", "")
    listed = mlrun("runs", "list", "-q")
    assert listed.returncode == 0 and listed.stderr == ""
