"""Shared fixtures. Every test gets its own cache, env root, home and working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlrun_cli import console
from mlrun_cli.project.validation import reset_caches

REPO = Path(__file__).resolve().parent.parent

_ISOLATED_VARS = (
    "MLRUN_TRACKING_URI",
    "MLRUN_EXPERIMENT_NAME",
    "MLRUN_EXPERIMENT_ID",
    "MLRUN_ENV_MANAGER",
    "MLRUN_BACKEND",
    "MLRUN_JOBS",
    "MLRUN_RUN_ID",
    "MLRUN_EVENTS_FILE",
    "MLRUN_ARTIFACT_DIR",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_RUN_ID",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_TRACKING_TOKEN",
    "VIRTUAL_ENV",
    "FORCE_COLOR",
)


@pytest.fixture(scope="session")
def package_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A download cache shared by the session, so real env builds fetch each package once."""
    return tmp_path_factory.mktemp("pkg-cache")


@pytest.fixture(autouse=True)
def isolated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package_cache: Path
) -> Iterator[Path]:
    """Point every path the tool writes to at tmp_path; the real home is out of reach."""
    for var in _ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))  # no user config of ours
    monkeypatch.setenv("MLRUN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MLRUN_ENV_ROOT", str(tmp_path / "envs"))
    monkeypatch.setenv("PIP_CACHE_DIR", str(package_cache / "pip"))
    monkeypatch.setenv("UV_CACHE_DIR", str(package_cache / "uv"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("MLRUN_KILL_GRACE", "3")
    monkeypatch.setenv("MLRUN_STORE_CEILING", str(tmp_path))  # no store above the test's
    monkeypatch.chdir(work)
    console.reset()
    reset_caches()
    yield work
    console.reset()


@pytest.fixture
def cli_run() -> Callable[..., Result]:
    """Run the CLI in-process (exact output, NO_COLOR, fixed width)."""
    from mlrun_cli.cli.app import cli

    def invoke(*args: str, input: str | None = None) -> Result:
        console.reset()
        return CliRunner().invoke(
            cli, list(args), input=input, catch_exceptions=False, prog_name="mlrun"
        )

    return invoke


@pytest.fixture
def mlrun() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `mlrun` as a subprocess (python -m mlrun_cli) in the current directory."""

    def call(
        *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlrun_cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )

    return call


def live_in_group(pgid: int, timeout: float = 10.0) -> bool:
    """True if a live (non-zombie) process is in group `pgid` after up to `timeout` seconds.

    Orphans are reaped by PID 1 (which may be slow, or absent in a container), so zombies
    are not counted.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        alive = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive = True
                break
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def write_project(root: Path, mlproject: str, files: dict[str, str] | None = None) -> Path:
    """Create a project directory with an MLproject file (and other files)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "MLproject").write_text(mlproject)
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root
