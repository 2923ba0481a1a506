"""A small project and an embedded store with a recorded (not run) sweep, for unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlrun_cli.store import open_store
from mlrun_cli.store.base import RunIndex
from tests.conftest import write_project

MLPROJECT = """
name: s
entry_points:
  main:
    parameters:
      x: float
      mode: {type: string, default: "a"}
    command: "python t.py {x} {mode}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "p", MLPROJECT, {"t.py": "print(1)\n"})


@pytest.fixture
def store(isolated: Path) -> RunIndex:
    index = open_store(str(isolated / ".mlrun")).index()
    assert index is not None
    return index
