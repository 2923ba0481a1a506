"""MLproject files as found in the wild, read as MLflow reads them (issue 15)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.project.mlproject import EntryPoint, Parameter, load_project
from mlrun_cli.project.params import render_command, resolve
from tests.conftest import REPO, write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

PY = shlex.quote(sys.executable)
SHOW_ARGV = f"{PY} -c 'import sys; print(sys.argv[1:])'"
EP = "entry_points:\n  main:\n    command: echo hi\n"


@pytest.mark.parametrize(
    "header",
    [
        "conda_env: ~\n",
        "python_env: null\n",
        "docker_env: ~\n",
        "python_env: ~\nconda_env: ~\ndocker_env: ~\n",
    ],
)
def test_a_null_environment_key_declares_none(tmp_path: Path, header: str) -> None:
    """MLflow reads `conda_env: ~` as no environment declared (then looks for the files it
    finds by convention); it was refused as "None is not of type 'string'"."""
    root = write_project(tmp_path / "p", header + EP)
    project = load_project(root)
    assert (project.env.kind, project.env.path, project.env.implicit) == ("none", None, False)
    (root / "python_env.yaml").write_text("python: '3.11'\n")
    project = load_project(root)
    assert (project.env.kind, project.env.path, project.env.implicit) == (
        "python_env",
        root / "python_env.yaml",
        True,
    )


def test_a_null_environment_key_validates_and_runs(mlrun: Mlrun, tmp_path: Path) -> None:
    root = write_project(
        tmp_path / "p", f'conda_env: ~\nentry_points:\n  main:\n    command: "{SHOW_ARGV}"\n'
    )
    proc = mlrun("validate", str(root), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        f"{root / 'MLproject'}: valid",
        "name: (none)",
        "environment: none (runs in the current environment)",
    ]
    proc = mlrun("run", str(root), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[]"


DEFAULTS = f"""
entry_points:
  main:
    parameters:
      n: {{type: int, default: None}}
      f: {{type: int, default: 1.0}}
      b: {{type: bool, default: maybe}}
    command: "{SHOW_ARGV} {{n}} {{f}} {{b}}"
"""


def test_defaults_not_of_their_type_are_passed_on(mlrun: Mlrun, tmp_path: Path) -> None:
    """MLflow passes a default on as it is (`default: None` is the string "None"); only a
    value the user gives is checked."""
    root = write_project(tmp_path / "p", DEFAULTS)
    proc = mlrun("run", str(root), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "['None', '1.0', 'maybe']"
    proc = mlrun("run", str(root), "-P", "f=1.0", timeout=60)
    assert (proc.returncode, proc.stderr) == (
        2,
        "error: parameter f: '1.0' is not a valid int; pass -P f=<int>\n",
    )
    assert json.loads(mlrun("runs", "list", "--json").stdout)["runs"][0]["status"] == "FINISHED"
    assert len(json.loads(mlrun("runs", "list", "--json").stdout)["runs"]) == 1


def test_validate_warns_about_such_defaults_in_one_line_each(mlrun: Mlrun, tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", DEFAULTS)
    proc = mlrun("validate", str(root), timeout=60)
    assert proc.returncode == 0
    assert proc.stderr == (
        "warning: MLproject: entry point 'main': parameter n: default 'None' is not a valid "
        "int; it is passed to the command as it is (only values given with -P are checked)\n"
        "warning: MLproject: entry point 'main': parameter f: default 1.0 is not a valid int; "
        "it is passed to the command as it is (only values given with -P are checked)\n"
        "warning: MLproject: entry point 'main': parameter b: default 'maybe' is not a valid "
        "bool; it is passed to the command as it is (only values given with -P are checked)\n"
    )
    warnings = json.loads(mlrun("validate", str(root), "--json", timeout=60).stdout)["warnings"]
    assert len(warnings) == 3


CONTINUED = f"""
entry_points:
  main:
    command: |
      {SHOW_ARGV} --alpha 1 \\
        --total_trials 3 \\
"""


def test_extras_after_a_line_continuation_are_arguments(mlrun: Mlrun, tmp_path: Path) -> None:
    """`... --total_trials 3 \\` + newline, then -P extra_flag=1: the result was
    `3 \\ --extra_flag 1`, which passed " --extra_flag" as one argument."""
    root = write_project(tmp_path / "p", CONTINUED)
    proc = mlrun("run", str(root), "-P", "extra_flag=1", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (
        "['--alpha', '1', '--total_trials', '3', '--extra_flag', '1']"
    )
    proc = mlrun("run", str(root), "--dry-run", "-P", "extra_flag=1", timeout=60)
    assert proc.stdout == f"{SHOW_ARGV} --alpha 1 \\\n  --total_trials 3 --extra_flag 1\n"


@pytest.mark.parametrize(
    ("command", "rendered"),
    [
        ("a \\\n", "a --x 1"),
        ("a \\\n\\\n  \n", "a --x 1"),  # two continuations, then blank space
        ("a\\\\\n", "a\\\\ --x 1"),  # an escaped backslash is no continuation
        ("a \\", "a \\ --x 1"),  # no newline after it: MLflow's rendering, kept
        ("a\n", "a --x 1"),  # a trailing newline is stripped, as before
        ("a", "a --x 1"),
    ],
)
def test_where_extras_are_appended(tmp_path: Path, command: str, rendered: str) -> None:
    entry = EntryPoint("main", command)
    assert render_command(entry, resolve(entry, {"x": "1"}, project_dir=tmp_path)) == rendered
    assert render_command(entry, resolve(entry, {}, project_dir=tmp_path)) == command


def test_placeholders_render_without_str_format(tmp_path: Path) -> None:
    """Only {name} is a placeholder; names str.format could not look up still work, and
    literal braces are escaped as before."""
    entry = EntryPoint(
        "main",
        "run {learning-rate} {{x}} {a b} {n}",
        {p.name: p for p in (Parameter("learning-rate"), Parameter("a b"), Parameter("n"))},
    )
    params = resolve(
        entry, {"learning-rate": "0.1", "a b": "x y", "n": "{0}"}, project_dir=tmp_path
    )
    assert render_command(entry, params) == "run 0.1 {x} 'x y' '{0}'"


def test_an_integer_entry_point_key_is_its_name(mlrun: Mlrun, tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", f"entry_points:\n  1:\n    command: {SHOW_ARGV} one\n")
    assert list(load_project(root).entry_points) == ["1"]
    proc = mlrun("run", str(root), "-e", "1", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "['one']"


def test_a_byte_order_mark_is_allowed(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "MLproject").write_bytes(b"\xef\xbb\xbfname: bom\n" + EP.encode())
    assert load_project(root).name == "bom"


@pytest.mark.parametrize(
    "example", sorted(p.parent.name for p in REPO.glob("examples/*/MLproject"))
)
def test_the_examples_still_validate(mlrun: Mlrun, example: str) -> None:
    proc = mlrun("validate", str(REPO / "examples" / example), timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
