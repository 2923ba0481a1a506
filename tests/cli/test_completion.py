"""Shell completion: the script, and completing a command name through it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(shell: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "_MLRUN_COMPLETE" in proc.stdout


def test_bash_completes_a_command_name() -> None:
    env = {
        **os.environ,
        "_MLRUN_COMPLETE": "bash_complete",
        "COMP_WORDS": "mlrun ru",
        "COMP_CWORD": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli"], capture_output=True, text=True, env=env, timeout=60
    )
    words = {line.split(",", 1)[-1] for line in proc.stdout.splitlines()}
    assert {"run", "runs"} <= words


def test_an_unknown_shell_is_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", "completion", "tcsh"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "tcsh" in proc.stderr
