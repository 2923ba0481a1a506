from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlrun_cli.envs import get_manager
from mlrun_cli.envs.installers.steps import Installed, InstallStep, Summary
from mlrun_cli.envs.installers.uv import UvInstaller
from mlrun_cli.envs.interpreters import find_uv
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import load_project
from tests.conftest import write_project

UV = "/opt/bin/uv"

# What `uv pip install` prints (uv 0.4), line by line.
UV_OUTPUT = """\
Resolved 2 packages in 5ms
Prepared 1 package in 12ms
Installed 2 packages in 3ms
 + setuptools==69.0.3
 + six==1.16.0
"""

NO_UV = (
    "uv is not installed; install it (pip install 'mlrun-cli[uv]') or use --env-manager virtualenv"
)


@pytest.fixture
def no_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without uv (injected: the test machine may well have it)."""
    monkeypatch.setattr("mlrun_cli.envs.installers.uv.find_uv", lambda: None)


def test_the_virtualenv_is_made_by_uv(tmp_path: Path) -> None:
    assert UvInstaller(UV).create_command(Path("/usr/bin/python3.11"), tmp_path / "e") == [
        UV,
        "venv",
        "--quiet",
        "--allow-existing",
        "--python",
        "/usr/bin/python3.11",
        str(tmp_path / "e"),
    ]


def test_build_dependencies_and_requirements_in_one_resolution(tmp_path: Path) -> None:
    python = tmp_path / "e" / "bin" / "python"
    reqs = tmp_path / "e" / "mlrun-requirements.txt"
    install = (UV, "pip", "install", "--python", str(python), "--compile-bytecode")
    installer = UvInstaller(UV)
    assert installer.install_steps(python, ["setuptools"], reqs, 3) == [
        InstallStep("requirements", (*install, "setuptools", "-r", str(reqs)), 4)
    ]
    assert installer.install_steps(python, ["setuptools"], None, 0) == [
        InstallStep("requirements", (*install, "setuptools"), 1)
    ]
    assert installer.install_steps(python, [], reqs, 2) == [
        InstallStep("requirements", (*install, "-r", str(reqs)), 2)
    ]
    assert installer.install_steps(python, [], None, 0) == []


def test_freeze_with_uv(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    assert UvInstaller(UV).freeze_command(python) == [UV, "pip", "freeze", "--python", str(python)]


def test_progress_lines_of_uv() -> None:
    parsed = [UvInstaller(UV).parse_line(line) for line in UV_OUTPUT.splitlines()]
    assert parsed == [
        Summary("Resolved 2 packages"),
        Summary("Prepared 1 package"),
        Installed(2),
        None,
        None,
    ]
    assert UvInstaller(UV).parse_line("Installed 1 package in 1ms") == Installed(1)


def test_lines_uv_does_not_print_mean_nothing() -> None:
    for line in ("Collecting six", "Successfully installed six-1.16.0", ""):
        assert UvInstaller(UV).parse_line(line) is None


def test_check_finds_uv() -> None:
    found = find_uv()
    if found is None:
        pytest.skip("uv is not installed")
    installer = UvInstaller()
    installer.check()
    assert installer.exe == found


@pytest.mark.usefixtures("no_uv")
def test_a_missing_uv_says_how_to_get_it() -> None:
    with pytest.raises(EnvError, match=f"^{re.escape(NO_UV)}$"):
        UvInstaller().check()
    with pytest.raises(EnvError, match="uv is not installed"):
        UvInstaller().create_command(Path("/python"), Path("/env"))


@pytest.mark.usefixtures("no_uv")
def test_a_missing_uv_is_reported_by_prepare_not_by_get_manager(tmp_path: Path) -> None:
    manager = get_manager("uv")  # the run flow does this to validate the name: no error yet
    root = write_project(
        tmp_path / "p",
        "entry_points: {main: {command: 'true'}}\n",
        {"python_env.yaml": "dependencies: [six]\n"},
    )
    with pytest.raises(EnvError, match="uv is not installed"):
        manager.prepare(load_project(root))
    assert not (tmp_path / "envs").exists()
