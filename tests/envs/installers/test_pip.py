from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlrun_cli.envs.installers.pip import PipInstaller
from mlrun_cli.envs.installers.steps import (
    DOWNLOADING,
    INSTALLING,
    RESOLVING,
    Expect,
    Installed,
    InstallStep,
    Tick,
)

# No bytecode at install time: it is compiled in the background once the env is ready.
PIP_INSTALL = ["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-compile"]

# What `pip install -r requirements.txt` prints (pip 24), line by line.
PIP_OUTPUT = """\
Looking in links: /opt/wheels
Collecting six==1.16.0 (from -r /e/mlrun-requirements.txt (line 1))
  Using cached six-1.16.0-py2.py3-none-any.whl.metadata (1.8 kB)
Collecting attrs
  Downloading attrs-23.2.0-py3-none-any.whl (60 kB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 60.8/60.8 kB 1.2 MB/s eta 0:00:00
Installing collected packages: six, attrs
Successfully installed attrs-23.2.0 six-1.16.0
"""


def test_the_virtualenv_is_made_by_virtualenv_with_mlrun_s_interpreter(tmp_path: Path) -> None:
    assert PipInstaller().create_command(Path("/usr/bin/python3.11"), tmp_path / "e") == [
        sys.executable,
        "-m",
        "virtualenv",
        "--no-periodic-update",
        "--quiet",
        "-p",
        "/usr/bin/python3.11",
        str(tmp_path / "e"),
    ]


def test_build_dependencies_are_installed_in_a_step_of_their_own(tmp_path: Path) -> None:
    python = tmp_path / "e" / "bin" / "python"
    reqs = tmp_path / "e" / "mlrun-requirements.txt"
    steps = PipInstaller().install_steps(python, ["setuptools", "wheel"], reqs, 3)
    assert steps == [
        InstallStep("build requirements", (str(python), *PIP_INSTALL, "setuptools", "wheel"), 2),
        InstallStep("requirements", (str(python), *PIP_INSTALL, "-r", str(reqs)), 3),
    ]


@pytest.mark.parametrize(
    ("build", "has_requirements", "whats"),
    [
        ([], True, ["requirements"]),
        (["setuptools"], False, ["build requirements"]),
        ([], False, []),
    ],
)
def test_only_what_there_is_gets_a_step(
    tmp_path: Path, build: list[str], has_requirements: bool, whats: list[str]
) -> None:
    reqs = tmp_path / "r.txt" if has_requirements else None
    steps = PipInstaller().install_steps(tmp_path / "python", build, reqs, 1)
    assert [s.what for s in steps] == whats


def test_freeze_lists_everything(tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python"
    assert PipInstaller().freeze_command(python) == [
        str(python),
        "-m",
        "pip",
        "freeze",
        "--all",
        "--disable-pip-version-check",
    ]


def test_progress_lines_of_pip() -> None:
    parsed = [PipInstaller().parse_line(line) for line in PIP_OUTPUT.splitlines()]
    assert [p for p in parsed if p is not None] == [
        Tick(RESOLVING, "six==1.16.0"),
        # "Using cached ....whl.metadata" fetched metadata only: no file was downloaded.
        Tick(RESOLVING, "attrs"),
        Tick(DOWNLOADING, "attrs-23.2.0-py3-none-any.whl"),
        Expect(INSTALLING, 2),
        Installed(2),
    ]
    cached = "  Using cached six-1.16.0-py2.py3-none-any.whl (11 kB)"
    assert PipInstaller().parse_line(cached) == Tick(DOWNLOADING, "six-1.16.0-py2.py3-none-any.whl")
    assert PipInstaller().parse_line("  Successfully installed six-1.16.0  ") == Installed(1)


def test_lines_pip_does_not_print_mean_nothing() -> None:
    for line in ("Resolved 2 packages in 3ms", "Installed 2 packages in 1ms", ""):
        assert PipInstaller().parse_line(line) is None


def test_pip_needs_nothing_beyond_mlrun() -> None:
    installer = PipInstaller()
    installer.check()
    assert installer.name == "pip"


def test_the_build_line_says_why_not_uv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlrun_cli.envs.interpreters.find_uv", lambda: "/opt/bin/uv")
    monkeypatch.setattr("mlrun_cli.envs.interpreters.uv_problem", lambda exe: None)
    assert PipInstaller().describe() == "virtualenv + pip"
    monkeypatch.setattr(
        "mlrun_cli.envs.interpreters.uv_problem", lambda exe: f"{exe} does not start (bad exec)"
    )
    assert PipInstaller().describe() == (
        "virtualenv + pip (uv cannot run here: /opt/bin/uv does not start (bad exec))"
    )
    monkeypatch.setattr("mlrun_cli.envs.interpreters.find_uv", lambda: None)
    assert PipInstaller().describe() == "virtualenv + pip (uv is not installed)"
