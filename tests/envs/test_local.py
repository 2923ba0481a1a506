from __future__ import annotations

from pathlib import Path

from mlrun_cli.envs import Environment
from mlrun_cli.envs.local import LocalManager
from mlrun_cli.project.mlproject import load_project
from tests.conftest import write_project


def test_local_builds_nothing_and_claims_no_interpreter(tmp_path: Path) -> None:
    project = load_project(
        write_project(tmp_path / "p", "entry_points: {main: {command: 'true'}}\n")
    )
    assert LocalManager().prepare(project, frozen=tmp_path / "pins.txt") == Environment("local")
    assert not (tmp_path / "envs").exists()
