from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlrun_cli.envs import default_manager, get_manager
from mlrun_cli.envs.installers.steps import (
    DOWNLOADING,
    INSTALLING,
    RESOLVING,
    Expect,
    Installed,
    InstallStep,
    Summary,
    Tick,
)
from mlrun_cli.envs.installers.uv import UvInstaller
from mlrun_cli.envs.interpreters import find_uv, usable_uv, uv_problem
from mlrun_cli.errors import EnvError
from mlrun_cli.project.mlproject import load_project
from tests.conftest import write_project

UV = "/opt/bin/uv"

# What `uv pip install -v` prints (uv 0.13), line by line (debug lines shortened).
UV_OUTPUT = """\
DEBUG uv 0.13.9 (x86_64-unknown-linux-gnu)
DEBUG Adding direct dependency: six*
DEBUG Selecting: setuptools==69.0.3 [compatible] (setuptools-69.0.3-py3-none-any.whl)
DEBUG Selecting: six==1.16.0 [compatible] (six-1.16.0-py2.py3-none-any.whl)
Resolved 2 packages in 5ms
DEBUG Registry requirement already cached: setuptools==69.0.3
DEBUG Identified uncached distribution: six==1.16.0
DEBUG Sending fresh GET request for: https://pypi.org/simple/six/
DEBUG Sending fresh GET request for: https://files.example/71/six-1.16.0-py2.py3-none-any.whl
Prepared 1 package in 12ms
Installed 2 packages in 3ms
 + setuptools==69.0.3
 + six==1.16.0
"""

NO_UV = (
    "uv is not installed; it comes with mlrun-cli (reinstall it: pip install --force-reinstall "
    "mlrun-cli), or put uv on PATH, or use --env-manager virtualenv"
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
    # -v for the progress in uv's debug lines; no --compile-bytecode (compiled in the background)
    install = (UV, "pip", "install", "-v", "--python", str(python))
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
    freeze = UvInstaller(UV).freeze_command(python)
    assert freeze == [UV, "pip", "freeze", "--quiet", "--python", str(python)]


def test_progress_lines_of_uv() -> None:
    parsed = [UvInstaller(UV).parse_line(line) for line in UV_OUTPUT.splitlines()]
    assert [p for p in parsed if p is not None] == [
        Tick(RESOLVING, "setuptools==69.0.3"),
        Tick(RESOLVING, "six==1.16.0"),
        Summary("Resolved 2 packages"),
        Expect(INSTALLING, 1),  # already in uv's cache: installed, not downloaded
        Expect(DOWNLOADING, 1),
        Tick(DOWNLOADING, "six-1.16.0-py2.py3-none-any.whl"),  # the index page is no file
        Summary("Prepared 1 package"),
        Installed(2),
    ]
    assert UvInstaller(UV).parse_line("Installed 1 package in 1ms") == Installed(1)


def test_lines_uv_does_not_print_mean_nothing() -> None:
    for line in ("Collecting six", "Successfully installed six-1.16.0", "", "DEBUG Found x"):
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


def fake_uv(tmp_path: Path, body: bytes) -> str:
    exe = tmp_path / "bin" / "uv"
    exe.parent.mkdir(parents=True, exist_ok=True)
    exe.write_bytes(body)
    exe.chmod(0o755)
    return str(exe)


def test_a_uv_binary_for_another_machine_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = fake_uv(tmp_path, b"\x7fELF\x02\x01\x01 not for this machine")
    monkeypatch.setattr("mlrun_cli.envs.installers.uv.find_uv", lambda: exe)
    monkeypatch.setattr("mlrun_cli.envs.interpreters.find_uv", lambda: exe)
    problem = uv_problem(exe)
    assert problem is not None and problem.startswith(f"{exe} does not start (")
    with pytest.raises(EnvError, match=r"^uv cannot run here: .*; use --env-manager virtualenv$"):
        UvInstaller().check()
    assert usable_uv() is None
    project = load_project(
        write_project(
            tmp_path / "p", "entry_points: {main: {command: 'true'}}\n",
            {"python_env.yaml": "dependencies: [six]\n"},
        )
    )  # fmt: skip
    assert default_manager(project) == "virtualenv"  # the fallback


def test_whether_uv_runs_is_asked_once_per_binary(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    script = f"#!/bin/sh\necho x >> {calls}\necho 'uv 9.9.9 (fake)'\n"
    exe = fake_uv(tmp_path, script.encode())
    assert uv_problem(exe) is None
    assert uv_problem(exe) is None
    assert UvInstaller(exe).describe() == "uv 9.9.9"
    assert calls.read_text() == "x\n"  # the answer is remembered
    broken = f"#!/bin/sh\necho x >> {calls}\necho 'cannot load libc' >&2\nexit 1\n"
    Path(exe).write_text(broken)  # a new binary (size changed): asked again
    assert uv_problem(exe) == f"{exe} --version failed (exit code 1) cannot load libc"
    assert calls.read_text() == "x\nx\n"


def test_a_working_uv_says_its_version() -> None:
    found = find_uv()
    if found is None:
        pytest.skip("uv is not installed")
    assert re.fullmatch(r"uv \d+\.\d+\.\d+\S*", UvInstaller(found).describe())
