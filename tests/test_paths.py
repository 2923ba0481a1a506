"""The embedded store is found like git finds a repository: here, or the nearest parent's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlrun_cli.paths import default_store_dir
from mlrun_cli.store.sqlite.store import SqliteStore
from tests.conftest import write_project


def test_nearest_store_in_a_parent(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "proj"
    deep = top / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert default_store_dir() == deep / ".mlrun"  # none yet: created here on first write
    SqliteStore(top / ".mlrun").create_experiment("x")
    assert default_store_dir() == top / ".mlrun"
    (deep / ".mlrun").mkdir()  # an empty folder is not a store
    assert default_store_dir() == top / ".mlrun"


def test_runs_list_from_a_subdirectory_finds_the_runs(tmp_path: Path, isolated: Path) -> None:
    project = write_project(
        isolated / "p", 'name: s\nentry_points:\n  main:\n    command: "true"\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "run", str(project), "--env-manager", "local"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=isolated,
    )
    assert run.returncode == 0, run.stderr
    sub = isolated / "deeper" / "still"
    sub.mkdir(parents=True)
    listed = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "runs", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=sub,
    )
    assert listed.returncode == 0 and "FINISHED" in listed.stdout
    assert not (sub / ".mlrun").exists()


def test_the_search_stops_at_a_ceiling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SqliteStore(tmp_path / ".mlrun").create_experiment("above")
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    monkeypatch.chdir(below)
    monkeypatch.setenv("MLRUN_STORE_CEILING", str(tmp_path / "a"))
    assert default_store_dir() == below / ".mlrun"
    monkeypatch.setenv("MLRUN_STORE_CEILING", "")
    monkeypatch.setenv("HOME", str(tmp_path / "a"))
    assert default_store_dir() == below / ".mlrun"  # never above the home directory
