"""The live install progress: phases with counts that move, fed real installer lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlrun_cli import console
from mlrun_cli.envs.installers.pip import PipInstaller
from mlrun_cli.envs.installers.uv import UvInstaller
from mlrun_cli.envs.progress import Progress

PY = "python{}.{}".format(*sys.version_info[:2])

UV_LINES = [
    "DEBUG Selecting: requests==2.32.3 [compatible] (requests-2.32.3-py3-none-any.whl)",
    "DEBUG Selecting: idna==3.10 [compatible] (idna-3.10-py3-none-any.whl)",
    "DEBUG Selecting: idna==3.10 [compatible] (idna-3.10-py3-none-any.whl)",  # backtracked
    "Resolved 2 packages in 40ms",
    "DEBUG Registry requirement already cached: idna==3.10",
    "DEBUG Identified uncached distribution: requests==2.32.3",
    "DEBUG Sending fresh GET request for: https://files.example/requests-2.32.3-py3-none-any.whl",
    "Prepared 1 package in 12ms",
    "Installed 2 packages in 3ms",
]


def site_packages(env_dir: Path) -> Path:
    site = env_dir / "lib" / PY / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    return site


def test_uv_phases_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(UvInstaller("/opt/bin/uv").parse_line, tmp_path)
    progress.start_step()
    statuses = []
    for line in UV_LINES:
        progress.feed(line)
        statuses.append(progress.status())
    assert statuses[:3] == [
        "resolving 1 (requests==2.32.3)",
        "resolving 2 (idna==3.10)",
        "resolving 2 (idna==3.10)",  # a package selected again is counted once
    ]
    assert statuses[6] == "resolving 2, downloading 1/1 (requests-2.32.3-py3-none-any.whl)"
    assert progress.installed == 2
    progress.step_done()
    # Off a terminal only the installer's summary lines are printed, as they come.
    assert capsys.readouterr().err == "    resolved 2 packages\n    prepared 1 package\n"


def test_the_installing_count_comes_from_the_env(tmp_path: Path) -> None:
    site = site_packages(tmp_path)
    (site / "pip-24.0.dist-info").mkdir()  # there before the step: not counted
    progress = Progress(PipInstaller().parse_line, tmp_path)
    progress.start_step()
    progress.feed("Installing collected packages: six, attrs, idna")
    (site / "six-1.16.0.dist-info").mkdir()
    progress.poll()
    assert progress.status() == "installing 1/3"
    (site / "attrs-23.2.0.dist-info").mkdir()
    progress.poll()  # polled at most every 0.25 s
    assert progress.status() == "installing 1/3"


def test_pip_resolution_is_summed_up_when_the_step_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    progress = Progress(PipInstaller().parse_line, tmp_path)
    progress.start_step()
    for line in ("Collecting six", "  Downloading six-1.16.0-py2.py3-none-any.whl (11 kB)"):
        progress.feed(line)
    assert progress.status() == "resolving 1, downloading 1 (six-1.16.0-py2.py3-none-any.whl)"
    progress.step_done()
    assert capsys.readouterr().err == "    collected 1 packages\n"


def test_a_terminal_sees_one_line_that_rewrites_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    console.reset()
    progress = Progress(PipInstaller().parse_line, tmp_path)
    progress.start_step()
    progress.feed("Collecting six")
    progress.step_done()
    err = capsys.readouterr().err
    assert err.startswith("\r\x1b[K    resolving 1 (six)")
    assert err.endswith("\r\x1b[K    collected 1 packages\n")
