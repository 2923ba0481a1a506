"""Memorable default run names (adjective-noun-number, as MLflow gives them); --run-name wins."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from mlrun_cli.names import ADJECTIVES, NOUNS, memorable_name
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project

Mlrun = Callable[..., subprocess.CompletedProcess[str]]
MLPROJECT = """
name: n
entry_points:
  main:
    command: "python -c 'print(1)'"
"""
NAME = re.compile(r"^([a-z]+)-([a-z]+)-(\d{1,3})$")


def test_a_run_without_a_name_gets_a_memorable_one(mlrun: Mlrun, isolated: Path) -> None:
    project = write_project(isolated / "p", MLPROJECT)
    first = mlrun("run", str(project), "--env-manager", "local", "--json")
    named = mlrun("run", str(project), "--env-manager", "local", "--json", "--run-name", "mine")
    assert first.returncode == 0 and named.returncode == 0, first.stderr + named.stderr
    store = SqliteStore(isolated / ".mlrun")
    run = store.get_run(json.loads(first.stdout)["run_id"])
    match = NAME.match(run.name)
    assert match, run.name
    assert match[1] in ADJECTIVES and match[2] in NOUNS
    assert run.tags["mlflow.runName"] == run.name
    mine = store.get_run(json.loads(named.stdout)["run_id"])
    assert mine.name == "mine" and mine.tags["mlflow.runName"] == "mine"


def test_names_vary_and_cost_no_random_import() -> None:
    names = {memorable_name() for _ in range(200)}
    assert len(names) > 150 and all(NAME.match(n) for n in names)
    code = "import sys; from mlrun_cli.names import memorable_name; memorable_name(); print('random' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
